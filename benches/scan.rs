//! How long one offline scan of the bundled example hub takes, split into its parts:
//! reading the manifests, loading the tag index, and resolving every container.
//! Run with `cargo bench --bench scan`.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use ml_operator::scan::{ScanOptions, scan};
use ml_operator::source::manifest;
use ml_operator::tags::index::TagIndex;

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn bench_example_hub(c: &mut Criterion) {
    let hub = vec![example("examples/hub")];
    let tags = example("examples/tags.json");
    let manifests = manifest::load(&hub, "default", manifest::DEFAULT_MAX_INPUT_BYTES).unwrap();
    let index = TagIndex::load(&tags).unwrap();

    let mut group = c.benchmark_group("example-hub");
    group.bench_function("read manifests", |b| {
        b.iter(|| {
            manifest::load(
                black_box(&hub),
                "default",
                manifest::DEFAULT_MAX_INPUT_BYTES,
            )
            .unwrap()
        })
    });
    group.bench_function("load tag index", |b| {
        b.iter(|| TagIndex::load(black_box(&tags)).unwrap())
    });
    group.bench_function("resolve all containers", |b| {
        b.iter(|| {
            scan(
                black_box(&manifests.workloads),
                &index,
                ScanOptions::default(),
            )
        })
    });
    group.bench_function("resolve with explanations", |b| {
        let options = ScanOptions {
            explain: true,
            ..ScanOptions::default()
        };
        b.iter(|| scan(black_box(&manifests.workloads), &index, options))
    });
    group.finish();
}

criterion_group!(benches, bench_example_hub);
criterion_main!(benches);

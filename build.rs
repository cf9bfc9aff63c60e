//! Lays out the release binary's code in the order `link/ml-operator.order` gives: every
//! function the operator and `check` run at the scale benchmark, most executed first, then the
//! rest. The operator's code pages are most of its file-backed memory, and a page is resident
//! once any function on it has run; packed together, the functions that run fill a few MiB of
//! pages instead of being scattered over all of `.text`. `scripts/link-order` writes the file.
//!
//! Only the order of functions changes, never what is compiled, so a stale file (a dependency
//! updated, a function renamed) costs memory, not correctness: the linker places what it does
//! not find as before. Applied where the linker is lld (rustc's own since 1.90 on
//! x86_64-unknown-linux-gnu), in release builds; `ML_OPERATOR_LINK_ORDER=off` leaves it out.

use std::env;
use std::fs;
use std::path::Path;
use std::process::Command;

/// The file `scripts/link-order` writes, relative to the package.
const ORDER_FILE: &str = "link/ml-operator.order";

fn main() {
    println!("cargo:rerun-if-changed={ORDER_FILE}");
    println!("cargo:rerun-if-env-changed=ML_OPERATOR_LINK_ORDER");
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let order = Path::new(&manifest_dir).join(ORDER_FILE);
    let rustc = rustc_version();
    if env::var("PROFILE").as_deref() != Ok("release")
        || env::var("ML_OPERATOR_LINK_ORDER").as_deref() == Ok("off")
        || !links_with_rust_lld(rustc.as_deref())
    {
        return;
    }
    // Symbol names hold a hash of the compiler's version: another rustc names every function
    // differently, and the file would order nothing.
    let made_with = fs::read_to_string(&order)
        .ok()
        .and_then(|text| Some(text.lines().next()?.strip_prefix("# ")?.to_owned()));
    if made_with.is_none() || made_with != rustc {
        println!(
            "cargo:warning={ORDER_FILE} was written for {}, this build uses {}: code laid out \
             as without it (scripts/link-order writes it for this compiler)",
            made_with.as_deref().unwrap_or("no compiler"),
            rustc.as_deref().unwrap_or("an unknown rustc"),
        );
        return;
    }
    let order = order.display();
    println!("cargo:rustc-link-arg-bin=ml-operator=-Wl,--symbol-ordering-file={order}");
    println!("cargo:rustc-link-arg-bin=ml-operator=-Wl,--no-warn-symbol-ordering");
}

/// Whether the binary is linked by rustc's bundled lld, which reads a symbol ordering file
/// (GNU ld does not): the default for x86_64-unknown-linux-gnu since Rust 1.90, unless the
/// build chose another linker. `rustc` is what the compiler says of itself.
fn links_with_rust_lld(rustc: Option<&str>) -> bool {
    let target = env::var("TARGET").unwrap_or_default();
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let linker_chosen = env::var_os("RUSTC_LINKER").is_some()
        || ["linker", "fuse-ld", "link-self-contained"]
            .iter()
            .any(|flag| flags.contains(flag));
    let minor = rustc.and_then(|version| version.split(['.', ' ']).nth(2)?.parse::<u32>().ok());
    target == "x86_64-unknown-linux-gnu" && !linker_chosen && minor >= Some(90)
}

/// What the rustc cargo builds with says of itself: `rustc 1.95.0 (59807616e 2026-04-14)`.
fn rustc_version() -> Option<String> {
    let rustc = env::var_os("RUSTC")?;
    let output = Command::new(rustc).arg("--version").output().ok()?;
    Some(String::from_utf8(output.stdout).ok()?.trim().to_owned())
}

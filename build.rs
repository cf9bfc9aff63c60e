//! Links the release binary to use less memory, where the linker is lld (rustc's own since 1.90
//! on x86_64-unknown-linux-gnu), in release builds; `ML_OPERATOR_LINK_ORDER=off` leaves both
//! out:
//!
//! - **Code in the order it runs** (`link/ml-operator.order`): every function the operator and
//!   `check` run at the scale benchmark, most executed first, then the rest. The operator's code
//!   pages are most of its file-backed memory, and a page is resident once any function on it
//!   has run; packed together, the functions that run fill a few MiB of pages instead of being
//!   scattered over all of `.text`. `scripts/link-order` writes the file. Only the order of
//!   functions changes, never what is compiled, so a stale file (a dependency updated, a
//!   function renamed) costs memory, not correctness: the linker places what it does not find
//!   as before.
//! - **Packed relative relocations** (`-z pack-relative-relocs`, `DT_RELR`): the position-
//!   independent binary's ~50,000 load-time relocations as a 21 KB bitmap instead of a 1.2 MB
//!   table, which the loader reads at every start and which then stays resident. glibc 2.36 or
//!   newer reads it (the binary names that requirement, so an older loader refuses it with a
//!   clear message); used only when the glibc building is that new, as the binary runs where it
//!   is built or in the image built on the same Debian.

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
    if packs_relative_relocations() {
        println!("cargo:rustc-link-arg-bin=ml-operator=-Wl,-z,pack-relative-relocs");
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

/// Whether the loader of the glibc this build links against reads packed relative relocations
/// (`DT_RELR`, glibc 2.36). The build script runs on the build machine, whose glibc the binary
/// links against when the target is the host (a cross build is left as it was).
fn packs_relative_relocations() -> bool {
    if env::var("HOST") != env::var("TARGET") {
        return false;
    }
    host_glibc().is_some_and(|(major, minor)| (major, minor) >= (2, 36))
}

/// The version of the glibc this build script runs on, `(2, 36)` for "2.36".
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn host_glibc() -> Option<(u32, u32)> {
    unsafe extern "C" {
        fn gnu_get_libc_version() -> *const std::ffi::c_char;
    }
    // SAFETY: glibc returns a pointer to a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
    let mut parts = version.to_str().ok()?.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Not glibc: no packed relocations.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn host_glibc() -> Option<(u32, u32)> {
    None
}

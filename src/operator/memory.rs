//! Giving freed memory back to the system after the initial list and after each scan.
//!
//! In: nothing (called between scans). Out: glibc's free pages returned to the kernel, so the
//! resident set follows what the operator holds rather than each scan's high-water mark.

/// Hands memory freed by the initial list or a scan back to the system. glibc's allocator keeps
/// freed pages for reuse, scattered over its per-thread arenas, so without this the resident
/// set keeps the high-water mark of every scan's temporary allocations. Does nothing on other
/// C libraries.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases unused pages; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

//! Keeping the resident set close to what the process holds: fewer malloc arenas from the
//! start, and freed memory given back after the initial list and after each scan.
//!
//! In: nothing (called at start and between scans). Out: glibc's allocator limited to
//! [`MALLOC_ARENAS`] arenas, and its free pages returned to the kernel, so the resident set
//! follows what the operator holds rather than each scan's high-water mark in every thread's
//! arena.

/// Arenas glibc's allocator may use. By default it makes one per thread that allocates while
/// another holds an arena (up to eight per core): each keeps its own free pages and high-water
/// mark, and the async runtime's worker and blocking threads all allocate. Two keep most of
/// the parallelism on the few cores an operator gets, and much less memory.
pub const MALLOC_ARENAS: i32 = 2;

/// Limits glibc's allocator to [`MALLOC_ARENAS`] arenas, unless `MALLOC_ARENA_MAX` already
/// sets the number (then glibc reads that). Call before any thread starts. Does nothing on
/// other C libraries.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes the allocator's tuning; called before other threads run.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        }
    }
}

/// Hands memory freed by the initial list or a scan back to the system. glibc's allocator keeps
/// freed pages for reuse, scattered over its arenas, so without this the resident set keeps
/// the high-water mark of every scan's temporary allocations. Does nothing on other C
/// libraries.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases unused pages; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

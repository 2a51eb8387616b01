//! Memory the allocator holds but no longer uses, handed back to the system.
//!
//! The engine runs a query on its own worker threads, and glibc's malloc gives each thread an
//! arena of its own. What a query's operators allocate there (batches, groups, an aggregate's
//! series: 16 MB for a run's strategy_stats query at production shape) is freed by the time
//! the query ends but stays mapped in that arena, where the search's threads never allocate:
//! the process would carry it to its end. `malloc_trim` returns every arena's free pages
//! (measured in reports/README.md, "Memory of the default path, second pass").

/// Returns the allocator's free pages to the system (glibc on Linux; elsewhere nothing).
pub fn return_free_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas; it takes
    // the arenas' locks and touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

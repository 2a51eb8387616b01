//! `memory::return_free_pages` hands freed memory back: alone in its own process, so no other
//! test's allocations move the resident size it reads.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf reads a constant of the system.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn memory_freed_in_a_threads_arena_goes_back_to_the_system() {
    // As the engine's worker threads do: many chunks allocated (below the size malloc maps on
    // its own) and freed in a thread's arena, with something allocated after them still in
    // use, so the allocator cannot simply shrink the arena's end.
    let (freed, returned) = std::thread::spawn(|| {
        let chunks: Vec<Vec<u8>> = (0..1024).map(|i| vec![(i % 251) as u8 + 1; 64 << 10]).collect();
        let kept = vec![3u8; 256];
        let before = resident_bytes();
        drop(chunks);
        let freed = resident_bytes();
        heavytune::memory::return_free_pages();
        let returned = resident_bytes();
        assert!(kept.iter().all(|&b| b == 3));
        (before - freed.min(before), freed.saturating_sub(returned))
    })
    .join()
    .unwrap();
    assert!(freed < 16 << 20, "free alone gave back {freed} bytes of 64 MiB: the test no longer holds them");
    assert!(returned >= 48 << 20, "return_free_pages gave back {returned} bytes of the 64 MiB freed");
}

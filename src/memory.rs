//! The allocator's settings: memory freed after a cycle of scans or an encoding goes back to
//! the system, so that the process's resident size follows what it holds.
//!
//! glibc's malloc otherwise keeps one arena per thread that has allocated (up to eight a
//! core) and raises its mmap threshold to the largest block freed, after which page bodies
//! and encodings come from arenas that keep their pages. Other C libraries: nothing to do.
//!
//! The one module of the library allowed unsafe code: calls into the C library.
#![allow(unsafe_code)]

/// Two arenas, and blocks of 128 KiB and more (page bodies, large encodings) mapped on their
/// own, so that freeing them unmaps them. Call before other threads start.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc's parameters; called before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Hands the free pages inside the arenas back to the system.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused memory; safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

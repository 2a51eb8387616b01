//! The one bridge from synchronous code (the CLI, tests) into the async engine interface: a
//! runtime owned by the caller, sized to `--threads`, so engine work never exceeds it.

use std::future::Future;

use crate::error::{Error, Result};

/// A runtime for driving engine futures to completion from synchronous code.
pub struct Blocking {
    runtime: tokio::runtime::Runtime,
}

/// The engine's parallelism when `--threads` is not given: every core (2 when unknown).
pub(crate) fn all_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

impl Blocking {
    /// A runtime of `threads` workers (every core when `None`).
    pub fn new(threads: Option<usize>) -> Result<Self> {
        let threads = match threads {
            Some(0) => return Err(Error::invalid("--threads", "must be at least 1")),
            Some(n) => n,
            None => all_cores(),
        };
        // The runtime's threads start with SIGPIPE blocked (threads inherit the mask of the
        // thread that starts them), see `PipeSignalBlocked`.
        let _blocked = PipeSignalBlocked::new();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("heavytune-engine")
            .enable_time()
            .enable_io()
            .build()
            .map_err(|e| Error::internal(format!("starting the async runtime: {e}")))?;
        Ok(Blocking { runtime })
    }

    /// Runs a future to completion on this runtime. Called from inside another async runtime
    /// (where blocking would stall or panic) it refuses with an error instead.
    pub fn run<T>(&self, future: impl Future<Output = Result<T>>) -> Result<T> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::internal(
                "Blocking::run was called from inside an async runtime; await the future there instead",
            ));
        }
        let _blocked = PipeSignalBlocked::new();
        self.runtime.block_on(future)
    }
}

/// SIGPIPE blocked on this thread while the guard lives.
///
/// The CLI restores SIGPIPE's default action so that output piped into `head` ends the
/// process quietly; but a write to a network socket whose peer went away raises SIGPIPE too,
/// and would kill a client (or `heavytune serve`) without a word. With the signal blocked on
/// every thread that drives the engine, such a write fails with EPIPE instead, an error that
/// says what happened. A SIGPIPE raised on this thread meanwhile is discarded when the guard
/// goes, before the old mask comes back.
struct PipeSignalBlocked {
    #[cfg(unix)]
    old: libc::sigset_t,
}

#[cfg(unix)]
fn pipe_signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset and sigaddset initialise and fill the set they are given.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        set
    }
}

impl PipeSignalBlocked {
    fn new() -> Self {
        #[cfg(unix)]
        {
            let set = pipe_signal_set();
            // SAFETY: changes this thread's signal mask only; `old` receives the former one.
            let mut old = unsafe { std::mem::zeroed::<libc::sigset_t>() };
            unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
            PipeSignalBlocked { old }
        }
        #[cfg(not(unix))]
        PipeSignalBlocked {}
    }
}

impl Drop for PipeSignalBlocked {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let set = pipe_signal_set();
            let now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: takes a pending SIGPIPE of this thread, if any, without waiting; then
            // restores the mask saved by `new`.
            unsafe {
                while libc::sigtimedwait(&set, std::ptr::null_mut(), &now) == libc::SIGPIPE {}
                libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_futures_and_refuses_nesting() {
        let b = Blocking::new(Some(1)).unwrap();
        assert_eq!(b.run(async { Ok(7) }).unwrap(), 7);
        let inner = Blocking::new(Some(1)).unwrap();
        let nested = b.run(async { Ok(inner.run(async { Ok(1) })) }).unwrap();
        assert!(nested.unwrap_err().to_string().contains("inside an async runtime"));
        assert!(Blocking::new(Some(0)).is_err());
    }
}

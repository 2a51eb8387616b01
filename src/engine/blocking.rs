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
        self.runtime.block_on(future)
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

//! Values that reach the tables over them after the tables are made. A run over files hands
//! the engine its session tables at once, and moves the values onto 2 MiB pages (for the
//! search) on a thread of its own while the engine plans or starts its statement: the tables'
//! scans wait for the values, which arrive where they will stay, so nothing is copied for the
//! engine and nothing is moved again after it. (The rows' recipe itself may come after the
//! tables too: [`crate::engine::late`].)

use std::ptr::NonNull;
use std::sync::Arc;

use arrow::buffer::{Buffer, ScalarBuffer};
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::{BoxFuture, Shared};
use heavytune_kernels::pages::HugeVec;

use crate::error::{Error, Result};

/// Strategy-major values, there now or on their way (cheap to clone: every clone sees the
/// same values).
#[derive(Clone)]
pub struct Arriving(Shared<oneshot::Receiver<ScalarBuffer<f64>>>);

impl std::fmt::Debug for Arriving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.peek() {
            Some(Ok(v)) => write!(f, "Arriving(arrived, {} values)", v.len()),
            Some(Err(_)) => write!(f, "Arriving(never sent)"),
            None => write!(f, "Arriving(not taken yet)"),
        }
    }
}

/// Where the values of an [`Arriving`] are sent from; dropping it unsent (a failed or
/// panicked sender) makes every wait end with an error instead of hanging.
#[derive(Debug)]
pub struct Sender(oneshot::Sender<ScalarBuffer<f64>>);

impl Sender {
    pub fn send(self, values: ScalarBuffer<f64>) {
        // The receiving side is gone only when every table over the values was dropped:
        // nobody waits for them then.
        let _ = self.0.send(values);
    }
}

const NEVER_SENT: &str = "the values for the engine's tables never arrived (the thread placing them failed)";

impl Arriving {
    /// Values that are there now.
    pub fn now(values: ScalarBuffer<f64>) -> Arriving {
        let (tx, arriving) = Arriving::channel();
        tx.send(values);
        arriving
    }

    /// Values still to be sent through the returned [`Sender`].
    pub fn channel() -> (Sender, Arriving) {
        let (tx, rx) = oneshot::channel();
        (Sender(tx), Arriving(rx.shared()))
    }

    /// The values once they are there.
    pub fn wait(&self) -> BoxFuture<'static, Result<ScalarBuffer<f64>>> {
        let values = self.0.clone();
        async move { values.await.map_err(|_| Error::internal(NEVER_SENT)) }.boxed()
    }

    /// Done once the values are there (a [`crate::engine::Replay`]'s `ready`).
    pub fn ready(&self) -> BoxFuture<'static, Result<()>> {
        let values = self.wait();
        async move { values.await.map(|_| ()) }.boxed()
    }

    /// The values, which must be there already (after [`Arriving::wait`]).
    pub fn arrived(&self) -> Result<ScalarBuffer<f64>> {
        // A shared future shows its output once polled: values sent but not yet waited for
        // are taken now.
        match self.0.peek().cloned().or_else(|| self.0.clone().now_or_never()) {
            Some(Ok(values)) => Ok(values),
            Some(Err(_)) => Err(Error::internal(NEVER_SENT)),
            None => Err(Error::internal("the engine's tables were read before their values arrived")),
        }
    }
}

/// `values` as an Arrow buffer over their own memory (no copy); the buffer, and every slice
/// of it, keeps them alive, and `Arc::try_unwrap` gives them back once all are dropped.
pub fn shared_pages(values: &Arc<HugeVec>) -> ScalarBuffer<f64> {
    let slice = values.as_slice();
    let (len, bytes) = (slice.len(), std::mem::size_of_val(slice));
    let ptr = NonNull::from(slice).cast::<u8>();
    // SAFETY: `ptr` points at `bytes` initialized bytes of f64s (aligned for f64), inside
    // memory that the clone of `values` handed to the buffer as its owner keeps alive, and
    // that nothing writes while it is shared: a `HugeVec` moves or drops its buffer only by
    // value, which no holder of the `Arc` can do.
    let buffer = unsafe { Buffer::from_custom_allocation(ptr, bytes, Arc::clone(values) as _) };
    ScalarBuffer::new(buffer, 0, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_sent_later_are_seen_by_every_clone() {
        let (tx, arriving) = Arriving::channel();
        let other = arriving.clone();
        assert!(arriving.arrived().is_err(), "nothing is there before it is sent");
        let wait = other.wait();
        tx.send(ScalarBuffer::from(vec![1.0, 2.5]));
        assert_eq!(wait.now_or_never().expect("sent").unwrap().to_vec(), vec![1.0, 2.5]);
        assert_eq!(arriving.arrived().unwrap().to_vec(), vec![1.0, 2.5]);
        assert_eq!(Arriving::now(ScalarBuffer::from(vec![3.0])).arrived().unwrap().to_vec(), vec![3.0]);
    }

    /// A sender dropped unsent (its thread failed) ends every wait with an error.
    #[test]
    fn a_sender_dropped_unsent_fails_the_wait() {
        let (tx, arriving) = Arriving::channel();
        drop(tx);
        let err = arriving.wait().now_or_never().expect("dropped").unwrap_err();
        assert!(err.to_string().contains("never arrived"), "{err}");
        assert!(arriving.arrived().is_err());
    }

    /// Pages shared as a buffer read as the values, and come back once the buffer is gone.
    #[test]
    fn shared_pages_come_back_when_the_buffer_goes() {
        let values: Vec<f64> = (0..5000).map(|i| i as f64 * 0.5).collect();
        let pages = Arc::new(HugeVec::new(values.clone()));
        let buffer = shared_pages(&pages);
        assert_eq!(&buffer[..], values.as_slice());
        let pages = Arc::try_unwrap(pages).expect_err("the buffer still holds the pages");
        drop(buffer);
        let pages = Arc::try_unwrap(pages).expect("nothing else holds the pages");
        assert_eq!(pages.into_vec(), values);
    }
}

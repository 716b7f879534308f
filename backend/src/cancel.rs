//! Cooperative cancellation shared by the run loop, trials and signal handlers: a `watch` channel
//! whose value turns `true` once, when the run must stop.

use tokio::sync::watch;

/// Sender side: flip to cancel.
pub(crate) type CancelSender = watch::Sender<bool>;
/// Receiver side: await [`cancelled`].
pub(crate) type CancelReceiver = watch::Receiver<bool>;

/// A new, not yet cancelled pair.
pub(crate) fn channel() -> (CancelSender, CancelReceiver) {
    watch::channel(false)
}

/// Completes once cancellation is requested; never completes if the sender is gone without it.
pub(crate) async fn cancelled(receiver: &mut CancelReceiver) {
    loop {
        if *receiver.borrow_and_update() {
            return;
        }
        if receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A receiver that turns `true` when `signal` does or when `deadline` passes, whichever is first.
pub(crate) fn with_deadline(
    mut signal: CancelReceiver,
    deadline: tokio::time::Instant,
) -> CancelReceiver {
    let (sender, receiver) = channel();
    tokio::spawn(async move {
        tokio::select! {
            () = cancelled(&mut signal) => {}
            () = tokio::time::sleep_until(deadline) => {}
            // Every receiver is gone: the run ended before either.
            () = sender.closed() => return,
        }
        // Receivers still see `true` once the sender is gone.
        let _ = sender.send(true);
    });
    receiver
}

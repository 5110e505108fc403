//! The connections the endpoints hold at once (`Connections`): at most
//! [`MAX_CONNECTIONS`]. When all are taken, the oldest one with no request in
//! flight is closed to make room: a half-open client still sending its
//! headers, or a kept-alive one between requests. So a client that opens
//! connections and never finishes a request (a slowloris) only ever closes
//! its own, and a probe that connects after it is let in and answered.
//!
//! A connection has a request in flight from the moment its head is read
//! until its answer has been handed to the socket (`InFlight` rides along
//! in the answer's body). Only plan downloads stay in flight for long, and
//! those are capped at half the connections
//! ([`MAX_PLAN_DOWNLOADS`](super::plan::MAX_PLAN_DOWNLOADS)).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Connections served at once; see the module's doc for what happens to the next one.
pub const MAX_CONNECTIONS: usize = 128;

/// Every open connection, oldest first, and the slots they hold.
pub(super) struct Connections {
    slots: Arc<Semaphore>,
    open: Mutex<BTreeMap<u64, Arc<Connection>>>,
    next_id: AtomicU64,
}

/// What the accept loop knows of one connection.
#[derive(Default)]
pub(super) struct Connection {
    in_flight: AtomicUsize,
    closing: Notify,
}

/// One connection's place among the open ones: its slot, given back (and
/// its entry removed) when dropped.
pub(super) struct Admitted {
    pub(super) connection: Arc<Connection>,
    id: u64,
    connections: Arc<Connections>,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.id);
    }
}

impl Connections {
    pub(super) fn new() -> Arc<Connections> {
        Arc::new(Connections {
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            open: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for a connection just accepted: a free one, else one made by
    /// closing the oldest connection with no request in flight. When every
    /// connection has one, waits for the first to end.
    pub(super) async fn admit(self: &Arc<Self>) -> Admitted {
        let slot = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                self.close_oldest_idle();
                Arc::clone(&self.slots)
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        };
        let connection = Arc::new(Connection::default());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, Arc::clone(&connection));
        Admitted {
            connection,
            id,
            connections: Arc::clone(self),
            _slot: slot,
        }
    }

    /// Tells the oldest connection with no request in flight to close (it
    /// leaves the list at once, so it is not chosen twice).
    fn close_oldest_idle(&self) {
        let mut open = self.lock();
        let oldest_idle = open
            .iter()
            .find(|(_, connection)| connection.in_flight.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        if let Some(connection) = oldest_idle.and_then(|id| open.remove(&id)) {
            connection.closing.notify_one();
        }
    }

    /// Waits until every connection has ended.
    pub(super) async fn all_closed(&self) {
        let _all = self.slots.acquire_many(MAX_CONNECTIONS as u32).await;
    }
}

impl Connection {
    /// Completes when the accept loop needs this connection's slot.
    pub(super) async fn closing(&self) {
        self.closing.notified().await;
    }

    /// A request has come in; it is in flight until the guard is dropped.
    pub(super) fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }
}

/// One request in flight on a connection, from its head to the end of its answer.
pub(super) struct InFlight(Arc<Connection>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body that keeps its request in flight until it is sent (or dropped).
pub(super) struct Tracked<B> {
    pub(super) body: B,
    pub(super) _in_flight: InFlight,
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_house_closes_its_oldest_idle_connection_never_one_with_a_request_in_flight() {
        let connections = Connections::new();
        let mut admitted = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            admitted.push(connections.admit().await);
        }
        // The two oldest are busy: the third is the one to go.
        let _busy = [
            admitted[0].connection.request_started(),
            admitted[1].connection.request_started(),
        ];
        let third = Arc::clone(&admitted[2].connection);
        let closing = tokio::spawn(async move { third.closing().await });
        let next = {
            let connections = Arc::clone(&connections);
            tokio::spawn(async move { connections.admit().await })
        };
        closing
            .await
            .expect("the oldest idle connection is told to close");
        assert!(!next.is_finished(), "no slot until it has closed");
        drop(admitted.remove(2));
        let _next = next.await.unwrap();
        let open = connections.lock();
        assert_eq!(open.len(), MAX_CONNECTIONS);
        assert!(open.contains_key(&0) && open.contains_key(&1) && !open.contains_key(&2));
    }

    #[tokio::test]
    async fn every_slot_comes_back_as_connections_end() {
        let connections = Connections::new();
        let first = connections.admit().await;
        let second = connections.admit().await;
        drop(first);
        drop(second);
        connections.all_closed().await;
        assert!(connections.lock().is_empty());
    }
}

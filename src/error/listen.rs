//! Why the daemon's HTTP endpoints could not be served, kept on the ground
//! floor so that the crate's [`Error`](super::Error) can carry it; the
//! metrics server returns it.

use std::net::SocketAddr;

/// The endpoints' listener could not be set up at `metrics_listen`.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The address cannot be bound: in use, not an address of this host, or
    /// a privileged port.
    #[error("metrics_listen {address}: cannot listen")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The bound socket cannot tell its own address (port 0 picks one).
    #[error("metrics_listen {address}: cannot listen")]
    LocalAddress {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

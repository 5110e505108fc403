//! The HTTP server of the endpoints: [`serve`] binds `metrics_listen`, runs
//! its own accept loop (a connection cap, a header timeout, a lifetime per
//! connection) and routes `/metrics`, `/healthz`, `/readyz`, `/plan` and
//! `/plan.json` to their handlers, which live with what they show.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::error::ListenError;
use crate::service::metrics::health::{Health, healthz_endpoint, readyz_endpoint};
use crate::service::metrics::plan::{CurrentPlan, plan_json_endpoint, plan_text_endpoint};
use crate::service::metrics::registry::{Metrics, metrics_endpoint};
use crate::shutdown::Shutdown;

/// What the endpoints read: the daemon's metrics, health and current plan.
/// Each handler takes only its part (`State<Arc<Health>>`, ...).
#[derive(Clone, Default)]
pub struct Endpoints {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub plan: Arc<CurrentPlan>,
}

impl FromRef<Endpoints> for Arc<Metrics> {
    fn from_ref(endpoints: &Endpoints) -> Self {
        Arc::clone(&endpoints.metrics)
    }
}

impl FromRef<Endpoints> for Arc<Health> {
    fn from_ref(endpoints: &Endpoints) -> Self {
        Arc::clone(&endpoints.health)
    }
}

impl FromRef<Endpoints> for Arc<CurrentPlan> {
    fn from_ref(endpoints: &Endpoints) -> Self {
        Arc::clone(&endpoints.plan)
    }
}

/// How long a client may take to send a request's headers. hyper's timer
/// also runs while a kept-alive connection waits for its next request, so it
/// is the idle timeout too.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// No connection is served for longer, however busy: a client that reads
/// the answer (or sends a body) a byte at a time cannot hold one for ever.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// Connections served at once. More wait in the kernel's accept queue,
/// holding none of the daemon's file descriptors.
pub const MAX_CONNECTIONS: usize = 64;

/// Binds `listen` and serves `/metrics`, `/healthz`, `/readyz`, `/plan` and
/// `/plan.json` until `shutdown` fires. Returns the bound address (port 0
/// picks one) and the server task, which ends once open connections have finished.
///
/// Slow or half-open clients cannot starve it: see [`HEADER_READ_TIMEOUT`],
/// [`CONNECTION_LIFETIME`] and [`MAX_CONNECTIONS`].
pub async fn serve(
    listen: SocketAddr,
    endpoints: Endpoints,
    shutdown: Shutdown,
) -> Result<(SocketAddr, JoinHandle<()>), ListenError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ListenError::Bind {
            address: listen,
            source,
        })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ListenError::LocalAddress {
            address: listen,
            source,
        })?;
    let task = tokio::spawn(accept_connections(listener, router(endpoints), shutdown));
    tracing::info!("serving /metrics, /healthz, /readyz, /plan and /plan.json on http://{bound}");
    Ok((bound, task))
}

/// Serves each connection on a task of its own, at most [`MAX_CONNECTIONS`]
/// at once, until `shutdown`; then waits for those still open to finish.
async fn accept_connections(listener: TcpListener, app: Router, mut shutdown: Shutdown) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, slot) = tokio::select! {
            () = shutdown.requested() => break,
            accepted = accept_in_a_free_slot(&listener, &slots) => accepted,
        };
        tokio::spawn(serve_connection(
            stream,
            app.clone(),
            shutdown.clone(),
            slot,
        ));
    }
    drop(listener);
    // Each connection gives its slot back as it ends.
    let _all = slots.acquire_many(MAX_CONNECTIONS as u32).await;
}

/// Waits for a free slot, then for a connection.
async fn accept_in_a_free_slot(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (TcpStream, OwnedSemaphorePermit) {
    let slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return (stream, slot),
            // The client gave up before it was accepted: nothing to say.
            Err(error) if is_connection_error(&error) => {}
            // Out of file descriptors, say: wait rather than spin.
            Err(error) => {
                tracing::warn!("metrics endpoint: cannot accept a connection: {error}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// Serves one connection (HTTP/1.1) until the client closes it, a timeout
/// ends it, or a stop has let its request in flight finish. Holds `_slot`
/// meanwhile.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    mut shutdown: Shutdown,
    _slot: OwnedSemaphorePermit,
) {
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    tokio::pin!(connection);
    let lifetime = tokio::time::sleep(CONNECTION_LIFETIME);
    tokio::pin!(lifetime);
    let mut stopping = false;
    loop {
        tokio::select! {
            // An error (a header timeout, a reset) only ends this connection.
            _ = connection.as_mut() => return,
            () = &mut lifetime => return,
            () = shutdown.requested(), if !stopping => {
                connection.as_mut().graceful_shutdown();
                stopping = true;
            }
        }
    }
}

fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/metrics", get(metrics_endpoint))
        .route("/healthz", get(healthz_endpoint))
        .route("/readyz", get(readyz_endpoint))
        .route("/plan", get(plan_text_endpoint))
        .route("/plan.json", get(plan_json_endpoint))
        .with_state(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::metrics::plan::PLAN_TEXT_CONTENT_TYPE;
    use crate::service::metrics::registry::OPENMETRICS_CONTENT_TYPE;
    use crate::service::metrics::testing::{outcome, parse, value};
    use crate::shutdown;

    async fn get(client: &reqwest::Client, url: String) -> (u16, Option<String>, String) {
        let response = client.get(url).send().await.expect("endpoint answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        (status, content_type, response.text().await.expect("a body"))
    }

    #[tokio::test]
    async fn endpoints_serve_metrics_liveness_and_readiness_then_stop() {
        let metrics = Arc::new(Metrics::new());
        metrics.observe_request(&outcome("PUT", Some(200)));
        metrics.observe_request(&outcome("PUT", Some(200)));
        let health = Arc::new(Health::new());
        let (trigger, shutdown) = shutdown::channel();
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let endpoints = Endpoints {
            metrics: metrics.clone(),
            health: health.clone(),
            plan: Arc::default(),
        };
        let (bound, server) = serve(listen, endpoints, shutdown)
            .await
            .expect("binds a free port");
        let client = reqwest::Client::new();
        let url = |path: &str| format!("http://{bound}{path}");

        let (status, content_type, body) = get(&client, url("/metrics")).await;
        assert_eq!(status, 200);
        assert_eq!(content_type.as_deref(), Some(OPENMETRICS_CONTENT_TYPE));
        let samples = parse(&body);
        let labels = [("method", "PUT"), ("code", "200")];
        assert_eq!(
            value(&samples, "groupsync_pod_requests_total", &labels),
            Some(2.0)
        );
        metrics.observe_request(&outcome("PUT", Some(200)));
        let samples = parse(&get(&client, url("/metrics")).await.2);
        assert_eq!(
            value(&samples, "groupsync_pod_requests_total", &labels),
            Some(3.0)
        );

        assert_eq!(get(&client, url("/healthz")).await.0, 200);
        let (status, _, body) = get(&client, url("/readyz")).await;
        assert_eq!((status, body.as_str()), (503, "no successful cycle yet"));
        health.set_ready(true);
        let (status, _, body) = get(&client, url("/readyz")).await;
        assert_eq!((status, body.as_str()), (200, "ready"));
        health.set_desired_valid(false);
        let (status, _, body) = get(&client, url("/readyz")).await;
        assert_eq!((status, body.as_str()), (503, "desired state is invalid"));

        let (status, content_type, body) = get(&client, url("/plan")).await;
        assert_eq!(status, 503);
        assert_eq!(content_type.as_deref(), Some(PLAN_TEXT_CONTENT_TYPE));
        assert_eq!(body, "no plan yet: the first cycle has not finished\n");

        drop(client); // Close the keep-alive connection so the stop is immediate.
        trigger.trigger();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server stops on shutdown")
            .expect("the server task does not panic");
    }

    /// Shorter than [`CONNECTION_LIFETIME`]: what closes the connection is
    /// the header timer, which runs while a kept-alive connection is idle.
    #[tokio::test]
    async fn an_idle_kept_alive_connection_is_closed_by_the_server() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (trigger, shutdown) = shutdown::channel();
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (bound, _server) = serve(listen, Endpoints::default(), shutdown).await.unwrap();
        let mut stream = tokio::net::TcpStream::connect(bound).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: groupsync\r\n\r\n")
            .await
            .unwrap();
        let mut received = Vec::new();
        let guard = CONNECTION_LIFETIME / 2;
        tokio::time::timeout(guard, stream.read_to_end(&mut received))
            .await
            .expect("the server closes the idle connection")
            .expect("a clean close");
        let text = String::from_utf8_lossy(&received);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\nok"),
            "{text}"
        );
        trigger.trigger();
    }
}

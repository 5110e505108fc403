//! The HTTP server of the endpoints: [`serve`] binds `metrics_listen`, runs
//! its own accept loop (a connection cap that closes the oldest idle
//! connection to let a new one in, a header timeout, a lifetime per
//! connection, a bounded send buffer) and routes `/metrics`, `/healthz`,
//! `/readyz`, `/plan` and `/plan.json` to their handlers, which live with
//! what they show.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::error::ListenError;
use crate::service::metrics::access::{PlanAccess, PlanToken};
use crate::service::metrics::connections::{Admitted, Connections, Tracked};
use crate::service::metrics::health::{Health, healthz_endpoint, readyz_endpoint};
use crate::service::metrics::plan::{CurrentPlan, plan_json_endpoint, plan_text_endpoint};
use crate::service::metrics::registry::{Metrics, metrics_endpoint};
use crate::shutdown::Shutdown;

/// What the endpoints read: the daemon's metrics, health and current plan,
/// and the token `/plan` asks for (from `plan_token_file`; `None`: only a
/// loopback listener serves the plan).
#[derive(Clone, Default)]
pub struct Endpoints {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub plan: Arc<CurrentPlan>,
    pub plan_token: Option<PlanToken>,
}

/// The routes' state: the endpoints, and who may read the plan on this
/// listener. Each handler takes only its part (`State<Arc<Health>>`, ...).
#[derive(Clone)]
struct Routes {
    endpoints: Endpoints,
    plan_access: Arc<PlanAccess>,
}

impl FromRef<Routes> for Arc<Metrics> {
    fn from_ref(routes: &Routes) -> Self {
        Arc::clone(&routes.endpoints.metrics)
    }
}

impl FromRef<Routes> for Arc<Health> {
    fn from_ref(routes: &Routes) -> Self {
        Arc::clone(&routes.endpoints.health)
    }
}

impl FromRef<Routes> for Arc<CurrentPlan> {
    fn from_ref(routes: &Routes) -> Self {
        Arc::clone(&routes.endpoints.plan)
    }
}

impl FromRef<Routes> for Arc<PlanAccess> {
    fn from_ref(routes: &Routes) -> Self {
        Arc::clone(&routes.plan_access)
    }
}

/// How long a client may take to send a request's headers. hyper's timer
/// also runs while a kept-alive connection waits for its next request, so it
/// is the idle timeout too.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// No connection is served for longer, however busy: a client that reads
/// the answer (or sends a body) a byte at a time cannot hold one for ever.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// The kernel's send buffer of each connection (Linux doubles it), and
/// hyper's buffer: what a connection holds of an answer its client has not
/// read yet. Without it, the kernel grows each buffer up to megabytes, and
/// slow readers of a large plan would hold that much each.
const SEND_BUFFER_BYTES: u32 = 128 * 1024;
const HYPER_BUFFER_BYTES: usize = 64 * 1024;

/// Binds `listen` and serves `/metrics`, `/healthz`, `/readyz`, `/plan` and
/// `/plan.json` until `shutdown` fires. Returns the bound address (port 0
/// picks one) and the server task, which ends once open connections have finished.
///
/// Slow or half-open clients cannot starve it: see [`HEADER_READ_TIMEOUT`],
/// [`CONNECTION_LIFETIME`] and [`MAX_CONNECTIONS`](super::MAX_CONNECTIONS).
/// Who may read the plan is decided here, from the bound address and
/// `endpoints.plan_token` ([`PlanAccess::decide`]).
pub async fn serve(
    listen: SocketAddr,
    endpoints: Endpoints,
    shutdown: Shutdown,
) -> Result<(SocketAddr, JoinHandle<()>), ListenError> {
    let listener = bind(listen).map_err(|source| ListenError::Bind {
        address: listen,
        source,
    })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ListenError::LocalAddress {
            address: listen,
            source,
        })?;
    let plan_access = PlanAccess::decide(bound, endpoints.plan_token.clone());
    tracing::info!(
        "serving /metrics, /healthz, /readyz, /plan and /plan.json on http://{bound} ({})",
        plan_access.describe()
    );
    let routes = Routes {
        endpoints,
        plan_access: Arc::new(plan_access),
    };
    let task = tokio::spawn(accept_connections(listener, router(routes), shutdown));
    Ok((bound, task))
}

/// A listener on `listen` whose connections have a send buffer of
/// [`SEND_BUFFER_BYTES`] (accepted sockets inherit it).
fn bind(listen: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(SEND_BUFFER_BYTES)?;
    socket.bind(listen)?;
    socket.listen(1024)
}

/// Serves each connection on a task of its own, each in a slot of
/// [`Connections`], until `shutdown`; then waits for those still open to finish.
async fn accept_connections(listener: TcpListener, app: Router, mut shutdown: Shutdown) {
    let connections = Connections::new();
    loop {
        let stream = tokio::select! {
            () = shutdown.requested() => break,
            stream = accept(&listener) => stream,
        };
        let admitted = tokio::select! {
            () = shutdown.requested() => break,
            admitted = connections.admit() => admitted,
        };
        tokio::spawn(serve_connection(
            stream,
            app.clone(),
            shutdown.clone(),
            admitted,
        ));
    }
    drop(listener);
    // Each connection gives its slot back as it ends.
    connections.all_closed().await;
}

/// The next connection.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
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
/// ends it, the accept loop needs its slot (while no request is in flight),
/// or a stop has let its request in flight finish. Holds its slot meanwhile.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    mut shutdown: Shutdown,
    admitted: Admitted,
) {
    let tracked = Arc::clone(&admitted.connection);
    let app = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |request| {
        let in_flight = tracked.request_started();
        let answer = app.call(request);
        async move {
            let response = answer.await?;
            Ok::<_, Infallible>(response.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            }))
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(HYPER_BUFFER_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let lifetime = tokio::time::sleep(CONNECTION_LIFETIME);
    tokio::pin!(lifetime);
    let mut stopping = false;
    loop {
        tokio::select! {
            // An error (a header timeout, a reset) only ends this connection.
            _ = connection.as_mut() => return,
            () = &mut lifetime => return,
            () = admitted.connection.closing() => return,
            () = shutdown.requested(), if !stopping => {
                connection.as_mut().graceful_shutdown();
                stopping = true;
            }
        }
    }
}

fn router(routes: Routes) -> Router {
    Router::new()
        .route("/metrics", get(metrics_endpoint))
        .route("/healthz", get(healthz_endpoint))
        .route("/readyz", get(readyz_endpoint))
        .route("/plan", get(plan_text_endpoint))
        .route("/plan.json", get(plan_json_endpoint))
        .with_state(routes)
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
            ..Endpoints::default()
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

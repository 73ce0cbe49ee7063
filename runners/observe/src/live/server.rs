//! The HTTP servers of a run: `--metrics-addr` (`GET /metrics`, the Prometheus text format)
//! and, later in the same process, the status page of `--ui`. Both are read-only and bind only
//! the address they are given (a host name or an IP address, and a port; port 0 takes a free
//! one); an address that cannot be bound is an error before the run starts, never a job that
//! runs unseen.
//!
//! A client cannot keep a finished job alive: a connection that has not sent a whole request
//! head within [`HEADER_READ_TIMEOUT`] — a half-sent request, or a kept-alive connection idle
//! between requests — is closed, and when the run ends the server stops accepting, lets the
//! requests in flight finish for at most [`SHUTDOWN_GRACE`], and drops the rest.

use super::LiveMetrics;
use super::history::History;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use sluice_sdk::error::PipelineError;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// What the handlers read: the store, and the history of snapshots (for rates).
#[derive(Clone)]
pub struct Watched {
    /// The run's live metrics.
    pub live: LiveMetrics,
    /// Its last minutes.
    pub history: Arc<Mutex<History>>,
}

/// How long a connection may take to send a request head, and how long it may stay idle
/// between requests (the status page asks every second).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a server that stops waits for the requests in flight.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Binds `addr` (`HOST:PORT`, the host a name or an IP address), given by `flag`: an error
/// naming both when it is not such an address or cannot be bound (in use, not this
/// machine's).
pub fn bind(flag: &str, addr: &str) -> Result<std::net::TcpListener, PipelineError> {
    use std::net::ToSocketAddrs;
    let resolved: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| {
            PipelineError::InvalidOption(format!("{flag} {addr}: not a HOST:PORT address ({e})"))
        })?
        .collect();
    if resolved.is_empty() {
        return Err(PipelineError::InvalidOption(format!(
            "{flag} {addr}: the host name resolves to no address"
        )));
    }
    let listener = std::net::TcpListener::bind(&resolved[..]).map_err(|e| {
        PipelineError::InvalidOption(format!("{flag} {addr}: cannot listen there: {e}"))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| PipelineError::InvalidOption(format!("{flag} {addr}: {e}")))?;
    Ok(listener)
}

/// `GET /metrics`: the live metrics now, with the rates of the last seconds.
async fn metrics(State(w): State<Watched>) -> impl IntoResponse {
    let rates = w.history.lock().unwrap_or_else(|e| e.into_inner()).rates();
    let body = w
        .live
        .snapshot()
        .map(|s| super::prometheus::render(&s, &rates))
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}

/// `GET /api/metrics`: the live metrics now, the rates of the last seconds and the charts'
/// points of the last minutes, as JSON (what the status page polls).
async fn api_metrics(State(w): State<Watched>) -> impl IntoResponse {
    /// The body.
    #[derive(serde::Serialize)]
    struct Body {
        elapsed_s: f64,
        at_ms: i64,
        transforms: Vec<super::TransformStats>,
        rates: Vec<super::history::Rates>,
        series: Vec<super::history::Point>,
    }
    let (rates, series) = {
        let h = w.history.lock().unwrap_or_else(|e| e.into_inner());
        (h.rates(), h.series())
    };
    let body = w.live.snapshot().map(|s| Body {
        elapsed_s: s.elapsed_s,
        at_ms: s.at_ms,
        transforms: s.transforms,
        rates,
        series,
    });
    axum::Json(body)
}

/// The status page: the graph, annotated with live rates and watermark lag, charts and a
/// table; it polls `/api/metrics` every second.
const INDEX: &str = include_str!("ui/index.html");

/// The routes of `--ui`: the page, the graph it draws (`/graph.svg`) and the metrics it polls
/// (`/api/metrics`); `/metrics` too. Only GETs: nothing here changes or stops the job.
pub fn ui_routes(watched: Watched, graph_svg: String) -> Router {
    let svg = Arc::new(graph_svg);
    Router::new()
        .route("/", get(|| async { axum::response::Html(INDEX) }))
        .route(
            "/graph.svg",
            get(move || {
                let svg = Arc::clone(&svg);
                async move { ([(header::CONTENT_TYPE, "image/svg+xml")], (*svg).clone()) }
            }),
        )
        .route("/api/metrics", get(api_metrics))
        .route("/metrics", get(metrics))
        .with_state(watched)
}

/// The routes of `--metrics-addr`.
pub fn metrics_routes(watched: Watched) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(watched)
}

/// A server running on a thread of its own until dropped.
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `routes` on `listener` (see [`bind`]).
    pub fn start(listener: std::net::TcpListener, routes: Router) -> std::io::Result<Server> {
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(format!("sluice-http-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, routes, stopped).await,
                        Err(e) => tracing::error!(%addr, "cannot serve: {e}"),
                    }
                });
                // The runtime ends with the thread: connections still open are dropped.
            })?;
        tracing::info!(%addr, "serving");
        Ok(Server {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }
}

/// Serves `routes` on `listener` until `stopped`, then lets the requests in flight finish for
/// at most [`SHUTDOWN_GRACE`].
async fn serve(
    listener: tokio::net::TcpListener,
    routes: Router,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let service = hyper_util::service::TowerToHyperService::new(routes.clone());
                    let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        // A client that hangs up or times out ends only its connection.
                        let _ = connection.await;
                    });
                }
                Err(e) => {
                    // Out of file descriptors, for one: try again shortly.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("connections still open after the grace period are dropped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_in_use_or_malformed_is_an_error_naming_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let e = bind("--metrics-addr", &addr).unwrap_err().to_string();
        assert!(e.contains("--metrics-addr") && e.contains(&addr), "{e}");
        let e = bind("--ui", "localhost-9000").unwrap_err().to_string();
        assert!(e.contains("--ui localhost-9000"), "{e}");
        // A host name is an address too; port 0 takes a free port.
        let l = bind("--ui", "localhost:0").unwrap();
        assert!(l.local_addr().unwrap().ip().is_loopback());
        assert_ne!(l.local_addr().unwrap().port(), 0);
    }
}

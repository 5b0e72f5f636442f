//! The local stack's HTTP/1 server: axum's router on hyper, with what `axum::serve` leaves out —
//! a header read timeout (a client that never finishes its headers is dropped) and a deadline for
//! the whole request body (a client trickling its body gets a 408) — so that slow clients cannot
//! hold the stack's connections forever (docs/security.md R10).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyDeadlineLayer;

/// How long a client may take over a request's headers, and over its body.
#[derive(Debug, Clone, Copy)]
pub struct ReadTimeouts {
    /// From the connection's first byte (or the end of the last response) to the end of the headers.
    pub headers: Duration,
    /// The whole body, from the end of the headers.
    pub body: Duration,
}

impl Default for ReadTimeouts {
    fn default() -> Self {
        Self { headers: Duration::from_secs(10), body: Duration::from_secs(10) }
    }
}

/// Serves `router` on `listener` until the task is dropped; each request carries its peer's address
/// (`ConnectInfo`), as the handlers expect outside Lambda.
pub async fn serve(listener: TcpListener, router: Router, timeouts: ReadTimeouts) {
    let router = router.layer(RequestBodyDeadlineLayer::new(timeouts.body));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, say: wait a moment rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = router.clone().map_request(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req.map(axum::body::Body::new)
        });
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeouts.headers)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}

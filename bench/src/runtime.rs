//! An emulated Lambda Runtime API on loopback, enough for `lambda_runtime`: it hands out the events it
//! is given (`GET …/invocation/next`, long-polled), takes the answers (`POST …/response`, `…/error`)
//! and notes when each happened, so that a benchmark can time a function from `exec` to its first
//! `next` (ready) and to its first answer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;

#[derive(Default)]
struct Log {
    events: VecDeque<Vec<u8>>,
    first_next: Option<Instant>,
    answers: Vec<(Instant, Vec<u8>)>,
    errors: Vec<String>,
    served: u64,
}

#[derive(Default)]
struct Shared {
    log: Mutex<Log>,
    event_ready: Notify,
    answered: Notify,
}

/// The Runtime API of one function process.
pub struct RuntimeApi {
    /// `127.0.0.1:<port>`, for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Log> {
    shared.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    {
        let mut log = lock(&shared);
        log.first_next.get_or_insert_with(Instant::now);
    }
    loop {
        // Registered before looking, so that an event pushed in between is not missed.
        let wait = shared.event_ready.notified();
        tokio::pin!(wait);
        wait.as_mut().enable();
        let event = {
            let mut log = lock(&shared);
            let e = log.events.pop_front();
            if e.is_some() {
                log.served += 1;
            }
            e.map(|e| (e, log.served))
        };
        if let Some((body, n)) = event {
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + Duration::from_secs(10);
            let mut h = HeaderMap::new();
            let header = |v: String| HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("x"));
            h.insert("lambda-runtime-aws-request-id", header(format!("request-{n}")));
            h.insert("lambda-runtime-deadline-ms", header(deadline.as_millis().to_string()));
            h.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:bench"),
            );
            h.insert("lambda-runtime-trace-id", HeaderValue::from_static("Root=1-00000000-000000000000000000000000"));
            h.insert("content-type", HeaderValue::from_static("application/json"));
            return (StatusCode::OK, h, body).into_response();
        }
        wait.await;
    }
}

async fn response(State(shared): State<Arc<Shared>>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    lock(&shared).answers.push((Instant::now(), body.to_vec()));
    shared.answered.notify_waiters();
    StatusCode::ACCEPTED
}

async fn error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    {
        let mut log = lock(&shared);
        log.errors.push(String::from_utf8_lossy(&body).into_owned());
        log.answers.push((Instant::now(), body.to_vec()));
    }
    shared.answered.notify_waiters();
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    /// Serves on a free loopback port.
    pub async fn start() -> Result<RuntimeApi, String> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| format!("runtime API: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?.to_string();
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(error))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RuntimeApi { address, shared, task })
    }

    /// Queues an event for the function's next `next`.
    pub fn push(&self, event: &[u8]) {
        lock(&self.shared).events.push_back(event.to_vec());
        self.shared.event_ready.notify_waiters();
    }

    /// When the function first asked for an event.
    pub fn ready_at(&self) -> Option<Instant> {
        lock(&self.shared).first_next
    }

    /// Waits (at most `limit`) until `n` answers have come; each answer's time and body.
    pub async fn answers(&self, n: usize, limit: Duration) -> Result<Vec<(Instant, Vec<u8>)>, String> {
        let until = Instant::now() + limit;
        loop {
            let wait = self.shared.answered.notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            {
                let log = lock(&self.shared);
                if log.answers.len() >= n {
                    return Ok(log.answers.clone());
                }
                if !log.errors.is_empty() {
                    return Err(format!("the function reported an error: {}", log.errors.join("; ")));
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, wait).await.is_err() {
                return Err(format!("no answer within {limit:?}"));
            }
        }
    }
}

//! Vonage Verify, as specified in `provider-specs/vonage/verify-v1.yml` and docs/providers.md, "Vonage Verify v1":
//! legacy v1 (`/verify/...`, what the seed uses; always HTTP 200 with a string `status`) in
//! [`v1`], and v2 (`/v2/verify`, problem+json errors) in [`v2`]. Both share the configuration, the
//! forced-status hook and the event machinery below.

mod sms;
mod v1;
mod v2;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use serde::Deserialize;

use crate::clock::SandboxClock;
use crate::journal::{Journal, lock};
use crate::truid::TruIdState;
use crate::wire::{e164_digits, random_hex};

#[derive(Debug, Clone)]
pub struct VonageConfig {
    pub api_key: String,
    pub api_secret: String,
    /// Longest accepted `brand`, in characters (Vonage: 18).
    pub brand_max: usize,
    /// Every verification (v1 and v2) sends this code instead of a random one (test hook). A v2
    /// request's own `code` still wins. v1 checks take 4–6 characters and v2 checks 4–10, as
    /// Vonage's do, so a longer fixed code cannot be checked.
    pub fixed_code: Option<String>,
    /// v2 `channel_timeout` when the request has none: 300 s, Vonage's API reference default
    /// (docs/providers.md, "Vonage Verify v2" says 180, which is the value of its example body).
    pub v2_channel_timeout_secs: i64,
    /// v1 search answers `101` for this long after a request finishes. Vonage documents "up to 60 s";
    /// the default 0 makes results visible at once so tests need not wait.
    pub search_lag_secs: i64,
}

impl Default for VonageConfig {
    fn default() -> Self {
        Self {
            api_key: "sandbox-vonage-key".into(),
            api_secret: "sandbox-vonage-secret".into(),
            brand_max: 18,
            fixed_code: None,
            v2_channel_timeout_secs: 300,
            search_lag_secs: 0,
        }
    }
}

/// v1 start statuses a test may force for a number, with Vonage's texts (verify-v1.yml examples).
const FORCEABLE: &[(&str, &str)] = &[
    ("1", "Throttled"),
    ("5", "Internal Error"),
    (
        "6",
        "The Vonage platform was unable to process this message for the following reason: The request could not be routed.",
    ),
    ("7", "The number you are trying to verify is blacklisted for verification."),
    ("8", "The api_key you supplied is for an account that has been barred from submitting messages."),
    ("9", "Partner quota exceeded"),
    ("15", "The destination number is not in a supported network"),
    (
        "29",
        "Your Vonage account is still in demo mode. While in demo mode you must add target numbers to the approved list for your account. Add funds to your account to remove this limitation.",
    ),
];

/// One delivery step of a workflow: the channel, whom it reaches, and how long to wait after it
/// before the next step fires (or, for the last step, before the request expires).
pub(crate) struct Step {
    pub channel: &'static str,
    pub to: String,
    pub wait: i64,
}

pub(crate) struct Event {
    pub id: String,
    pub channel: &'static str,
    pub at: i64,
}

/// The delivery schedule of a request. Steps fire lazily: whenever the sandbox handles a request
/// (or a test reads the outbox) every step whose time has come is fired with its scheduled time.
pub(crate) struct Flow {
    pub provider: &'static str,
    /// The request it belongs to (the outbox names it).
    pub request_id: String,
    pub code: String,
    pub text: String,
    pub steps: Vec<Step>,
    pub events: Vec<Event>,
    /// When the next step fires, or when the request expires once every step has fired.
    pub next_at: i64,
}

impl Flow {
    pub fn start(
        provider: &'static str,
        request_id: String,
        code: String,
        text: String,
        steps: Vec<Step>,
        now: i64,
        journal: &Journal,
    ) -> Flow {
        let mut flow = Flow { provider, request_id, code, text, steps, events: Vec::new(), next_at: now };
        flow.fire_next(now, journal);
        flow
    }

    /// Fires the next step at `at`; `false` when none is left.
    pub fn fire_next(&mut self, at: i64, journal: &Journal) -> bool {
        let Some(step) = self.steps.get(self.events.len()) else {
            return false;
        };
        if step.channel == "sms" {
            journal.send_sms(self.provider, &step.to, &self.code, &self.request_id, self.text.clone(), at);
        }
        self.events.push(Event { id: random_hex(16).to_uppercase(), channel: step.channel, at });
        self.next_at = at + step.wait;
        true
    }

    pub fn catch_up(&mut self, now: i64, journal: &Journal) {
        while !self.exhausted() && now >= self.next_at {
            let at = self.next_at;
            self.fire_next(at, journal);
        }
    }

    pub fn exhausted(&self) -> bool {
        self.events.len() >= self.steps.len()
    }

    pub fn expired(&self, now: i64) -> bool {
        self.exhausted() && now >= self.next_at
    }

    pub fn current_channel(&self) -> Option<&'static str> {
        self.events.last().map(|e| e.channel)
    }
}

#[derive(Default)]
struct Data {
    v1: crate::journal::Capped<String, v1::Request>,
    v2: crate::journal::Capped<String, v2::Request>,
    /// Number digits → forced v1 start status.
    forced: HashMap<String, String>,
}

pub struct VonageState {
    config: VonageConfig,
    clock: Arc<SandboxClock>,
    journal: Arc<Journal>,
    /// The numbers' profiles and which addresses are on mobile data: silent auth answers as tru.ID
    /// would for the same number and device.
    truid: Arc<TruIdState>,
    /// Where `check_url` points.
    base_url: String,
    data: Mutex<Data>,
}

impl VonageState {
    pub fn new(
        config: VonageConfig,
        clock: Arc<SandboxClock>,
        journal: Arc<Journal>,
        truid: Arc<TruIdState>,
        base_url: String,
    ) -> Arc<Self> {
        Arc::new(Self { config, clock, journal, truid, base_url, data: Mutex::new(Data::default()) })
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        lock(&self.data)
    }

    /// Fires every due step and expires every overdue request, so the outbox is complete.
    pub(crate) fn tick(&self) {
        let now = self.clock.now();
        let mut d = self.data();
        for r in d.v1.values_mut() {
            r.refresh(now, &self.journal);
        }
        for r in d.v2.values_mut() {
            r.refresh(now, &self.journal);
        }
    }
}

/// Test hooks, usable in-process and over HTTP under `/_sandbox/vonage`.
#[derive(Clone)]
pub struct VonageControl(Arc<VonageState>);

impl VonageControl {
    pub fn new(state: Arc<VonageState>) -> Self {
        Self(state)
    }

    /// Every v1 start for `number` (E.164, `+` optional) answers `status` until cleared: one of
    /// `1`, `5`, `6`, `7` (with `network`), `8`, `9`, `15`, `29`. `false` for other statuses or a
    /// malformed number.
    pub fn force_status(&self, number: &str, status: &str) -> bool {
        match (e164_digits(number), forced_text(status)) {
            (Some(d), Some(_)) => {
                self.0.data().forced.insert(d, status.to_owned());
                true
            }
            _ => false,
        }
    }

    pub fn clear_forced(&self, number: &str) {
        if let Some(d) = e164_digits(number) {
            self.0.data().forced.remove(&d);
        }
    }

    /// The code of a v1 or v2 request, also for voice-only workflows whose code never reaches the
    /// outbox.
    pub fn code(&self, request_id: &str) -> Option<String> {
        let d = self.0.data();
        d.v1.get(request_id).map(|r| r.flow.code.clone()).or_else(|| d.v2.get(request_id).map(|r| r.flow.code.clone()))
    }

    /// Forgets every request and forced status (the outbox belongs to the sandbox).
    pub fn reset(&self) {
        *self.0.data() = Data::default();
    }
}

fn forced_text(status: &str) -> Option<&'static str> {
    FORCEABLE.iter().find(|(s, _)| *s == status).map(|(_, text)| *text)
}

#[derive(Deserialize)]
struct ForceHook {
    status: String,
}

async fn hook_force(
    State(s): State<Arc<VonageState>>,
    Path(number): Path<String>,
    axum::Json(h): axum::Json<ForceHook>,
) -> Response {
    if VonageControl(s).force_status(&number, &h.status) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::BAD_REQUEST.into_response()
    }
}

async fn hook_unforce(State(s): State<Arc<VonageState>>, Path(number): Path<String>) -> Response {
    VonageControl(s).clear_forced(&number);
    StatusCode::NO_CONTENT.into_response()
}

pub fn router(state: Arc<VonageState>) -> Router {
    Router::new()
        .merge(v1::routes())
        .merge(v2::routes())
        .merge(sms::routes())
        .route("/_sandbox/vonage/force/{number}", put(hook_force).delete(hook_unforce))
        .with_state(state)
}

//! Steps several handlers share. Handler modules never import each other; what two of them need
//! lives here.

use std::future::Future;
use std::net::IpAddr;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue};

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::app::{App, Core, WithSilent};
use crate::domain::sim_policy::{Account, SimSignal};
use crate::domain::verification::VerificationSubject;
use crate::domain::{CheckOutcome, Token};
use crate::domain::{
    Flow, FlowEvent, Phone, RememberedDevice, Session, SilentBinding, Timestamp, Transition, User, UserId,
};
use crate::http::CSRF_HEADER;
use crate::http::Problem;
use crate::http::cookies::{DEVICE, FLOW};
use crate::http::extract::require_csrf;
use crate::http::limits::HOUR;
use crate::ports::{
    Metric, Notification, NotificationKind, PossessionProof, ProviderFailure, ProviderFault, RateDecision,
    RedirectParams, SilentReport, SilentStart, SimSwapAnswer, SimSwapSource, StoreError,
};

/// How long a coverage answer is remembered for the device's address.
pub const COVERAGE_CACHE_SECS: i64 = 300;

/// A provider call that did not give the answer we asked for: one log line (its label and tru.ID's
/// problem slug, never a body) and, when the provider failed us rather than answered about the
/// number, the metric the provider-error alarm counts. `next` says what the flow does instead.
pub fn provider_error(
    core: &Core,
    provider: &'static str,
    call: &'static str,
    error: &impl ProviderFault,
    next: &'static str,
) {
    let failure = error.is_failure();
    tracing::warn!(
        event = "provider_error",
        provider,
        call,
        error.kind = error.kind(),
        slug = error.slug(),
        failure,
        "{next}"
    );
    if failure {
        core.metrics.record(Metric::ProviderError { provider, call });
    }
}

/// The browser's live flow, after its CSRF token was checked. A request without the token is not
/// from our pages (403, whatever its cookie); with it, one answer for "no cookie", "no such flow" and
/// "expired" (the flow's existence is nobody else's business).
pub async fn current_flow(core: &Core, headers: &HeaderMap) -> Result<(Token, Flow), Problem> {
    if !headers.contains_key(CSRF_HEADER) {
        return Err(Problem::csrf_rejected());
    }
    let token = FLOW.read(headers).ok_or_else(Problem::flow_invalid)?;
    require_csrf(headers, &token)?;
    let flow = core.store.get_flow(&token.hash(), core.clock.now()).await?.ok_or_else(Problem::flow_invalid)?;
    Ok((token, flow))
}

/// The transition `event` makes from where `flow` is; a step out of order is the generic
/// `flow_invalid`, logged with what was refused.
pub fn step(flow: &Flow, event: FlowEvent) -> Result<Transition, Problem> {
    flow.apply(event).map_err(|e| {
        tracing::warn!(event = "flow_refused", why = %e, "a step out of order");
        Problem::flow_invalid()
    })
}

/// Persists a step the domain allowed.
pub async fn persist(core: &Core, flow: &Flow, transition: &Transition, now: Timestamp) -> Result<Flow, StoreError> {
    core.store.transition_flow(&flow.key, transition, now).await
}

/// The flow's account: `None` for a flow of an unknown email. A flow whose account changed its
/// credentials since it started (a password reset) is over (docs/security.md S21).
pub async fn flow_user(core: &Core, flow: &Flow) -> Result<Option<User>, Problem> {
    let Some(id) = &flow.user_id else { return Ok(None) };
    let user = core.store.user_by_id(id).await?.ok_or_else(Problem::flow_invalid)?;
    if flow.credential_version != Some(user.credential_version) {
        tracing::warn!(event = "flow_refused", why = "credentials_changed", "a flow from before a password change");
        return Err(Problem::flow_invalid());
    }
    Ok(Some(user))
}

/// Whose number a flow proves: an account of ours, or a relying site's verification.
#[derive(Debug, Clone)]
pub enum Subject {
    /// An account's (its number, its history, its owner's email).
    Account(User),
    /// A relying site's verification: only a number, nobody of ours to tell.
    Site(VerificationSubject),
}

impl Subject {
    /// The account, if it is one.
    pub fn user(&self) -> Option<&User> {
        match self {
            Self::Account(u) => Some(u),
            Self::Site(_) => None,
        }
    }

    /// The number the proof is about (before a phone change moves on to its new one).
    pub fn phone(&self) -> &Phone {
        match self {
            Self::Account(u) => &u.phone,
            Self::Site(v) => &v.phone,
        }
    }

    /// Who an SMS verification in flight is claimed for.
    pub fn owner_id(&self) -> UserId {
        match self {
            Self::Account(u) => u.id.clone(),
            Self::Site(v) => UserId(format!("verification:{}", v.id)),
        }
    }

    /// What the SIM policy knows of the number's history: an account's, or — for a site's number,
    /// of which simguard knows nothing — no new-account grace, ever.
    pub fn history(&self) -> Account {
        match self {
            Self::Account(u) => Account::of(u),
            Self::Site(_) => Account { registered_at: Timestamp(0), phone_verified_at: None, imported: true },
        }
    }
}

/// The flow's subject: a site's verification (carried by the flow), or the account (see
/// [`flow_user`]); `None` for a flow of an unknown email.
pub async fn flow_subject(core: &Core, flow: &Flow) -> Result<Option<Subject>, Problem> {
    if let Some(v) = &flow.verification {
        return Ok(Some(Subject::Site(v.clone())));
    }
    Ok(flow_user(core, flow).await?.map(Subject::Account))
}

/// Signs `user` in on `flow` without a code (a remembered browser's SIM check, a silent check): the
/// flow's last step `transition`, the first possession proof and `session`, in one transaction
/// (docs/security.md R11); a flow that moved on meanwhile is `Conflict`, and nothing is written.
/// Counted as a sign-in by `how`.
pub async fn record_sign_in(
    core: &Core,
    flow: &Flow,
    user: &User,
    transition: &Transition,
    session: &Session,
    how: &'static str,
) -> Result<(), StoreError> {
    let proof = PossessionProof {
        flow_key: &flow.key,
        transition,
        user_id: &user.id,
        at: session.created_at,
        session: Some(session),
        device: None,
    };
    core.store.record_possession(&proof).await?;
    tracing::info!(event = "login", user_id = %user.id, how, "signed in without a code");
    core.metrics.record(Metric::StepOutcome { step: "login", outcome: how });
    Ok(())
}

/// The number this step of `flow` checks or texts: the account's, or a phone change's new one once the
/// current one is proven. A phone change that lost its new number is over.
pub fn flow_number<'a>(flow: &'a Flow, account_phone: &'a Phone) -> Result<&'a Phone, Problem> {
    flow.number(account_phone).ok_or_else(|| {
        tracing::warn!(event = "flow_refused", why = "no_new_number", "a phone change without its new number");
        Problem::flow_invalid()
    })
}

/// A phone change's step once its current number is proven (by its code, or silently): the new
/// number is next, its SMS limits counted under its own keys. `None` for a flow without a new number.
pub fn current_number_proven(flow: &Flow) -> Option<FlowEvent> {
    let new_phone = flow.new_phone.as_ref()?;
    Some(FlowEvent::CurrentNumberProven { new_number_keys: crate::http::limits::sms_keys(Some(new_phone), None) })
}

/// Logs and counts a phone change's current number proven (`how`: `code` or `silent`).
pub fn report_current_proven(core: &Core, user: &User, how: &'static str) {
    tracing::info!(event = "phone_change_current_proven", user_id = %user.id, how, "current number proven; new one next");
    core.metrics.record(Metric::StepOutcome { step: "phone_change", outcome: "current_proven" });
}

/// The browser a sign-in that passes its second factor will remember (its owner asked): a device
/// token, to be stored hashed under the account (with the sign-in, in one transaction) and bound to
/// its credentials, and the cookie that carries it.
pub fn device_to_remember(
    core: &Core,
    user: &User,
    user_agent: &str,
    now: Timestamp,
) -> Result<(RememberedDevice, HeaderValue), Problem> {
    let token = core.random.token()?;
    let device = RememberedDevice {
        key: token.hash(),
        user_id: user.id.clone(),
        credential_version: user.credential_version,
        label: user_agent.chars().take(120).collect(),
        created_at: now,
        expires_at: now.plus_secs(RememberedDevice::LIFE_SECS),
    };
    Ok((device, DEVICE.set(&token, RememberedDevice::LIFE_SECS)))
}

/// The live remembered browser of the account `user` that the request's device cookie names, if
/// any. Whether it still counts is the caller's to check against the account's credentials (a
/// reset, a password change or signing out everywhere forgets them all).
pub async fn remembered_device(
    core: &Core,
    headers: &HeaderMap,
    user: &UserId,
) -> Result<Option<RememberedDevice>, StoreError> {
    let Some(token) = DEVICE.read(headers) else { return Ok(None) };
    core.store.get_device(user, &token.hash(), core.clock.now()).await
}

/// Runs a provider call, records how long it took for [`imitate`] and counts it in the
/// `ProviderLatency` metric.
pub async fn timed<T>(core: &Core, provider: &'static str, call: &'static str, work: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = work.await;
    let took = started.elapsed();
    core.latency.observe(call, took);
    let millis = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    core.metrics.record(Metric::ProviderLatency { provider, call, millis });
    out
}

/// Takes as long as `call` usually does, without making it: the step for an unknown email (or a
/// decoy) must not be faster than for a registered one (docs/security.md A2).
pub async fn imitate(core: &Core, call: &'static str) {
    let mut pick = [0u8; 2];
    let _ = core.random.fill(&mut pick);
    tokio::time::sleep(core.latency.typical(call, usize::from(u16::from_le_bytes(pick)))).await;
}

/// A new signed-in session for `user`, to be stored by the caller (with the step that starts it);
/// the token is for its cookie.
pub fn new_session(core: &Core, user: &User, now: Timestamp) -> Result<(Token, Session), Problem> {
    let token = core.random.token()?;
    let session = Session {
        key: token.hash(),
        user_id: user.id.clone(),
        credential_version: user.credential_version,
        created_at: now,
        expires_at: now.plus_secs(core.settings.session_ttl_secs),
    };
    Ok((token, session))
}

/// Tells the account's owner; a lost email never undoes the security action that caused it.
pub async fn notify(core: &Core, user: &User, kind: NotificationKind, client_ip: IpAddr, user_agent: &str) {
    notify_account(core, &user.id, Some(user), kind, client_ip, user_agent).await;
}

/// Tells the owner of the account `user_id` (read here unless given). Warnings (blocked attempts,
/// registrations with the email) go out at most once per kind per hour, so repeated attempts cannot
/// be used to flood the owner's inbox; a password change is always told. The account's read and the
/// once-an-hour counter are one round trip, not two (docs/security.md R11).
pub async fn notify_account(
    core: &Core,
    user_id: &UserId,
    known: Option<&User>,
    kind: NotificationKind,
    client_ip: IpAddr,
    user_agent: &str,
) {
    notify_account_unless(core, user_id, known, kind, client_ip, user_agent, async |_| false).await;
}

/// [`notify_account`], unless `hold` says the account read is not to be told: then it is returned,
/// unnotified (one round trip all the same).
pub async fn notify_account_unless(
    core: &Core,
    user_id: &UserId,
    known: Option<&User>,
    kind: NotificationKind,
    client_ip: IpAddr,
    user_agent: &str,
    hold: impl AsyncFnOnce(&User) -> bool,
) -> Option<User> {
    let read = async {
        match known {
            Some(u) => Ok(Some(u.clone())),
            None => core.store.user_by_id(user_id).await,
        }
    };
    let suppressed = async {
        // A changed credential is always told; warnings about attempts at most once an hour.
        if matches!(
            kind,
            NotificationKind::PasswordReset
                | NotificationKind::PasswordChanged
                | NotificationKind::SignedOutEverywhere
                | NotificationKind::PhoneChanged
        ) {
            return false;
        }
        let bucket = format!("{}#{}", kind.as_str(), user_id.0);
        matches!(core.limiter.hit(&bucket, 1, HOUR, core.clock.now()).await, Ok(RateDecision::Limited { .. }))
    };
    let (user, suppressed) = tokio::join!(read, suppressed);
    let Ok(Some(user)) = user else { return None };
    if hold(&user).await {
        return Some(user);
    }
    if suppressed {
        tracing::info!(event = "notification_suppressed", kind = kind.as_str(), "already told within the hour");
        return None;
    }
    let id = match core.random.id() {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(event = "notification_not_queued", error = %e, kind = kind.as_str(), "no randomness for its id");
            core.metrics.record(Metric::NotificationNotQueued);
            return None;
        }
    };
    let n = Notification {
        id,
        to: user.email.clone(),
        kind,
        at: core.clock.now(),
        client_ip,
        user_agent: user_agent.to_owned(),
        not_me_url: core.settings.public_url("/help/not-me.html"),
    };
    if let Err(e) = core.notifier.notify(n).await {
        // The request goes on (email must never fail it), but the email is lost: counted and alarmed
        // (docs/operations.md, "NotificationNotQueuedAlarm").
        tracing::error!(event = "notification_not_queued", error = %e, kind = kind.as_str(), "notification lost");
        core.metrics.record(Metric::NotificationNotQueued);
    }
    None
}

/// The remembered coverage answer for the device's address, if fresh. Answers are cached briefly so
/// that the reset start that follows the page's own lookup costs no second provider call.
pub async fn cached_coverage(core: &Core, ip: IpAddr) -> Option<bool> {
    match core.store.get_coverage(ip, core.clock.now()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "coverage cache unavailable");
            None
        }
    }
}

/// Remembers a coverage answer for the device's address for a few minutes.
pub async fn remember_coverage(core: &Core, ip: IpAddr, covered: bool) {
    let until = core.clock.now().plus_secs(COVERAGE_CACHE_SECS);
    if let Err(e) = core.store.put_coverage(ip, covered, until).await {
        tracing::warn!(error = %e, "coverage not cached");
    }
}

/// A started proof, and the prover that started it.
pub struct Started {
    /// The prover's name.
    pub provider: &'static str,
    /// What it started.
    pub start: SilentStart,
}

impl Started {
    /// What the page is told: `{"next":"silent","check_url"}`, the URL the device opens.
    pub fn answer(&self) -> serde_json::Value {
        serde_json::json!({ "next": "silent", "check_url": self.start.device_url.expose_secret() })
    }

    /// What the flow keeps of it.
    pub fn binding(&self) -> SilentBinding {
        SilentBinding {
            provider: self.provider.to_owned(),
            handle: self.start.handle.clone(),
            secret: self.start.secret.as_ref().map(|s| s.expose_secret().to_owned()),
        }
    }
}

/// Starts a silent proof for `phone` with the first prover that may reach the device at `ip`: one
/// whose coverage says the network is not covered is skipped, one that fails hands over to the next.
/// Coverage is looked up for an unknown email (`phone` is `None`) as for a known one, so both take
/// the same path until here; nothing is started for it. Also returns a coverage answer looked up
/// now, to be cached for the address (`cached`: the one cached before).
pub async fn start_silent(app: &App<WithSilent>, phone: Option<&Phone>, ip: IpAddr, cached: Option<bool>) -> Reach {
    let mut looked_up = None;
    let mut reaches = false;
    for prover in &app.ports.provers {
        let name = prover.name();
        let covered = match (prover.looks_up_coverage(), cached.or(looked_up)) {
            (true, Some(known)) => Some(known),
            _ => match timed(app, name, "silent.coverage", prover.covers(ip)).await {
                Ok(c) => {
                    if prover.looks_up_coverage() {
                        looked_up = c;
                    }
                    tracing::info!(event = "coverage", provider = name, silent = c != Some(false), "device coverage");
                    c
                }
                Err(e) => {
                    provider_error(app, name, "coverage", &e, "coverage lookup failed; trying the next prover");
                    continue;
                }
            },
        };
        if covered == Some(false) {
            if phone.is_some() {
                app.metrics.record(Metric::SilentAttempt { provider: name, outcome: "not_covered" });
            }
            continue;
        }
        reaches = true;
        let Some(phone) = phone else { return Reach { started: None, reaches, looked_up } };
        let redirect = app.settings.truid_redirect_url();
        let window = app.settings.sim_change_window_minutes;
        match timed(app, name, "silent.start", prover.start(phone, &redirect, window)).await {
            Ok(start) => {
                app.metrics.record(Metric::SilentAttempt { provider: name, outcome: "started" });
                return Reach { started: Some(Started { provider: name, start }), reaches, looked_up };
            }
            Err(e) => silent_start_failed(app, name, &e),
        }
    }
    Reach { started: None, reaches, looked_up }
}

/// A silent prover that did not start: logged, and counted as `error` (an outage, refused
/// credentials) or `not_served` (it declined the number); the next prover is tried.
pub fn silent_start_failed(core: &Core, name: &'static str, e: &ProviderFailure) {
    let outcome = if e.is_failure() { "error" } else { "not_served" };
    core.metrics.record(Metric::SilentAttempt { provider: name, outcome });
    provider_error(core, name, "silent_start", e, "silent proof not started; trying the next");
}

/// What [`start_silent`] found.
pub struct Reach {
    /// The proof started, if any.
    pub started: Option<Started>,
    /// Whether some prover may reach the device's network.
    pub reaches: bool,
    /// A coverage answer looked up now, to cache for the address.
    pub looked_up: Option<bool>,
}

/// A silent proof's redirect parameters (a query, or a fragment a page posts): every parameter once
/// — a repeated one is an attempt to confuse, kept empty so that it matches nothing. None of it is
/// ever echoed or logged (docs/security.md B5, B6).
pub fn redirect_params(raw: &str) -> RedirectParams {
    let mut q = RedirectParams::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let value = if q.contains_key(k.as_ref()) { String::new() } else { v.into_owned() };
        q.insert(k.into_owned(), value);
    }
    q
}

/// A proof whose verdict does not cover the SIM change (every prover but tru.ID's) passes only if
/// the SIM-swap sources then say "not changed"; "changed" is a SIM change, no answer no verdict
/// (docs/security.md S33, S34).
pub async fn with_sim_gate(
    core: &Core,
    sources: &[Arc<dyn SimSwapSource>],
    report: SilentReport,
    phone: &Phone,
    window: u32,
) -> CheckOutcome {
    if report.outcome != CheckOutcome::Verified || report.sim_checked {
        return report.outcome;
    }
    match ask_sources(core, sources, phone, window).await.0 {
        SimSignal::NoChange => CheckOutcome::Verified,
        SimSignal::Changed => CheckOutcome::SimChanged,
        SimSignal::Unavailable => CheckOutcome::Error,
    }
}

/// Asks the SIM-swap sources in order (docs/security.md S33): the first that can tell decides — "not
/// changed" passes, "changed" stops, and nobody after it is asked (a changed SIM is never shopped
/// around for a yes); one that cannot tell, or fails, hands over to the next. None that can tell: no
/// SIM answer. Returns the signal and what each source asked said (`camara:cannot_tell,truid:…`).
pub async fn ask_sources(
    core: &Core,
    sources: &[Arc<dyn SimSwapSource>],
    phone: &Phone,
    window: u32,
) -> (SimSignal, String) {
    let mut answers = Vec::new();
    for source in sources {
        let name = source.name();
        let answer = match timed(core, name, "sim_swap.check", source.check(phone, window)).await {
            Ok(answer) => answer,
            Err(e) => {
                provider_error(core, name, "sim_swap_check", &e, "SIM-swap source failed; asking the next");
                core.metrics.record(Metric::SimSwapAnswer { source: name, answer: "error" });
                answers.push(format!("{name}:error"));
                continue;
            }
        };
        core.metrics.record(Metric::SimSwapAnswer { source: name, answer: answer.as_str() });
        answers.push(format!("{name}:{}", answer.as_str()));
        match answer {
            SimSwapAnswer::NotChanged => return (SimSignal::NoChange, answers.join(",")),
            SimSwapAnswer::Changed => return (SimSignal::Changed, answers.join(",")),
            SimSwapAnswer::CannotTell(why) => {
                tracing::info!(event = "sim_swap_cannot_tell", source = name, why, "asking the next SIM-swap source");
            }
        }
    }
    (SimSignal::Unavailable, answers.join(","))
}

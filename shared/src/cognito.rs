//! The `cognito-auth` function: Amazon Cognito's custom-authentication triggers, adding simguard's
//! checks to a user pool's sign-in after the password (docs/cognito.md). One function serves the
//! three triggers, told apart by `triggerSource`:
//!
//! - **Define** decides the next round from the rounds so far ([`crate::domain::cognito::decide`]).
//! - **Create** runs the SIM-swap gate on the user's verified `phone_number` (the first round only),
//!   then starts the silent proof when the client asks for it and a prover starts one, else sends an
//!   SMS code (counted in the per-number and global SMS limits; a later round re-uses the code in
//!   flight). What the client needs goes in the public parameters; what only Verify may see in the
//!   private ones, which Cognito never hands to the client.
//! - **Verify** checks the answer: the code with the provider that sent it, or the redirect's
//!   parameters against the proof this round started, completed once. Only an explicit yes is right.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsChallengeResult, CognitoEventUserPoolsCreateAuthChallenge,
    CognitoEventUserPoolsDefineAuthChallenge, CognitoEventUserPoolsVerifyAuthChallenge,
};
use secrecy::{ExposeSecret, SecretString};

use crate::app::{Core, WithSilentGate};
use crate::domain::cognito::{Decision, Round, RoundLabel, decide};
use crate::domain::sim_policy::{Account, SimVerdict};
use crate::domain::{CheckOutcome, FlowKind, Phone, Timestamp, TokenHash, UserId};
use crate::http::limits::{Reservations, number_limits, sms_keys};
use crate::http::support::{ask_sources, provider_error, redirect_params, silent_start_failed, timed, with_sim_gate};
use crate::ports::{Metric, OtpCheck, OtpCode, OtpError, OtpProvider, OtpReference, VerificationOwner};

/// The three triggers' state: what every function has, the silent provers and SIM-swap sources,
/// and the OTP provider.
pub struct CognitoTriggers {
    core: Core,
    silent: WithSilentGate,
    otp: Arc<dyn OtpProvider>,
}

/// An event this function does not handle, or cannot read: the sign-in fails (Cognito treats a
/// trigger's error as a refusal).
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// Not one of the three auth-challenge triggers.
    #[error("not an auth-challenge trigger: {0}")]
    Unknown(String),
    /// Not the event its trigger source says.
    #[error("unreadable {0} event")]
    Unreadable(&'static str),
}

const PHONE: &str = "phone_number";
const PHONE_VERIFIED: &str = "phone_number_verified";

fn blocked(reason: &'static str) -> RoundLabel {
    RoundLabel::Blocked { reason: reason.to_owned() }
}

impl CognitoTriggers {
    /// The triggers over these clients.
    pub fn new(core: Core, silent: WithSilentGate, otp: Arc<dyn OtpProvider>) -> Self {
        Self { core, silent, otp }
    }

    /// One Lambda invocation: the event back with its `response` filled in.
    pub async fn handle(&self, event: serde_json::Value) -> Result<serde_json::Value, TriggerError> {
        let source = event.get("triggerSource").and_then(|s| s.as_str()).unwrap_or_default().to_owned();
        let unreadable = |which| move |_| TriggerError::Unreadable(which);
        let answer = match source.as_str() {
            "DefineAuthChallenge_Authentication" => {
                let e = serde_json::from_value(event).map_err(unreadable("define"))?;
                serde_json::to_value(self.define(e))
            }
            "CreateAuthChallenge_Authentication" => {
                let e = serde_json::from_value(event).map_err(unreadable("create"))?;
                serde_json::to_value(self.create(e).await)
            }
            "VerifyAuthChallengeResponse_Authentication" => {
                let e = serde_json::from_value(event).map_err(unreadable("verify"))?;
                serde_json::to_value(self.verify(e).await)
            }
            _ => return Err(TriggerError::Unknown(source)),
        };
        answer.map_err(|_| TriggerError::Unreadable("response"))
    }

    /// Define Auth Challenge.
    pub fn define(&self, mut e: CognitoEventUserPoolsDefineAuthChallenge) -> CognitoEventUserPoolsDefineAuthChallenge {
        let rounds: Vec<Round<'_>> = e.request.session.iter().map(round).collect();
        let decision = decide(&rounds, e.request.user_not_found);
        let (challenge, tokens, fail) = match decision {
            Decision::Challenge(name) => (Some(name.to_owned()), false, false),
            Decision::IssueTokens => (None, true, false),
            Decision::Fail => (None, false, true),
        };
        let outcome = match decision {
            Decision::Challenge(_) => "challenge",
            Decision::IssueTokens => "signed_in",
            Decision::Fail => "failed",
        };
        tracing::info!(event = "cognito_decided", outcome, rounds = rounds.len(), "Cognito sign-in: next step");
        self.core.metrics.record(Metric::StepOutcome { step: "cognito_define", outcome });
        e.response.challenge_name = challenge;
        e.response.issue_tokens = tokens;
        e.response.fail_authentication = fail;
        e
    }

    /// Create Auth Challenge.
    pub async fn create(
        &self,
        mut e: CognitoEventUserPoolsCreateAuthChallenge,
    ) -> CognitoEventUserPoolsCreateAuthChallenge {
        let earlier: Vec<RoundLabel> = e
            .request
            .session
            .iter()
            .flatten()
            .filter_map(|r| r.challenge_metadata.as_deref())
            .filter_map(RoundLabel::decode)
            .collect();
        let wants_silent = e.request.client_metadata.get("method").map(String::as_str) == Some("silent");
        let header = &e.cognito_event_user_pools_header;
        let owner = owner(header.user_pool_id.as_deref(), header.user_name.as_deref());
        let (label, public, private) = match verified_phone(&e.request.user_attributes) {
            None => (blocked("phone_unverified"), HashMap::new(), HashMap::new()),
            Some(phone) => self.challenge(&phone, &earlier, wants_silent, &owner).await,
        };
        let mut public = public;
        let outcome = match &label {
            RoundLabel::Silent { .. } => "silent",
            RoundLabel::Sms { .. } => "sms",
            RoundLabel::Blocked { reason } => {
                public.insert("next".into(), "blocked".into());
                public.insert("reason".into(), reason.clone());
                "blocked"
            }
        };
        tracing::info!(event = "cognito_challenge", outcome, "Cognito sign-in: a round of simguard's");
        self.core.metrics.record(Metric::StepOutcome { step: "cognito_create", outcome });
        e.response.challenge_metadata = Some(label.encode());
        e.response.public_challenge_parameters = public;
        e.response.private_challenge_parameters = private;
        e
    }

    /// The round for `phone`: the SIM-swap gate first (once per sign-in), then the silent proof or a
    /// code.
    async fn challenge(
        &self,
        phone: &Phone,
        earlier: &[RoundLabel],
        wants_silent: bool,
        owner: &VerificationOwner,
    ) -> (RoundLabel, HashMap<String, String>, HashMap<String, String>) {
        let nothing = || (HashMap::new(), HashMap::new());
        let window = self.core.settings.sim_change_window_minutes;
        if earlier.is_empty() {
            let (signal, answers) = ask_sources(&self.core, &self.silent.sim_swap, phone, window).await;
            let history = Account { registered_at: Timestamp(0), phone_verified_at: None, imported: true };
            let verdict =
                self.core.settings.sim_policy().decide(FlowKind::Login, signal, history, self.core.clock.now());
            tracing::info!(
                event = "sim_check_result",
                flow = "cognito",
                verdict = verdict.as_str(),
                answers,
                "SIM-swap gate decided"
            );
            match verdict {
                SimVerdict::Pass => {}
                SimVerdict::BlockSimChanged => {
                    tracing::warn!(event = "sim_change_blocked", flow = "cognito", "SIM changed recently: no sign-in");
                    self.core.metrics.record(Metric::SimChangeBlocked);
                    let (p, q) = nothing();
                    return (blocked("sim_changed"), p, q);
                }
                // No grace and no `allow_with_notice` here: a user pool's history is not simguard's.
                _ => {
                    let (p, q) = nothing();
                    return (blocked("sim_unavailable"), p, q);
                }
            }
        }
        let silent_tried = earlier.iter().any(|l| matches!(l, RoundLabel::Silent { .. }));
        // Only when the app said where its proofs return: without that page no proof can come back.
        let returns = self.core.settings.silent.cognito_return_url.is_some();
        if wants_silent
            && returns
            && !silent_tried
            && let Some(started) = self.start_silent(phone).await
        {
            return started;
        }
        // A code in flight from an earlier round of this sign-in is still the one to type.
        let in_flight = earlier.iter().rev().find_map(|l| match l {
            RoundLabel::Sms { provider, reference } if provider == self.otp.name() => Some(reference.clone()),
            _ => None,
        });
        match in_flight {
            Some(reference) => self.sms_round(phone, reference),
            None => self.send_code(phone, owner).await,
        }
    }

    async fn start_silent(
        &self,
        phone: &Phone,
    ) -> Option<(RoundLabel, HashMap<String, String>, HashMap<String, String>)> {
        let redirect = self.core.settings.truid_redirect_url();
        let window = self.core.settings.sim_change_window_minutes;
        for prover in &self.silent.provers {
            let name = prover.name();
            match timed(&self.core, name, "silent.start", prover.start(phone, &redirect, window)).await {
                Ok(start) => {
                    self.core.metrics.record(Metric::SilentAttempt { provider: name, outcome: "started" });
                    let public = HashMap::from([
                        ("next".to_owned(), "silent".to_owned()),
                        ("check_url".to_owned(), start.device_url.expose_secret().to_owned()),
                    ]);
                    let mut private = HashMap::from([
                        ("kind".to_owned(), "silent".to_owned()),
                        ("provider".to_owned(), name.to_owned()),
                        ("handle".to_owned(), start.handle),
                        ("phone".to_owned(), phone.e164().to_owned()),
                    ]);
                    if let Some(secret) = start.secret {
                        private.insert("secret".into(), secret.expose_secret().to_owned());
                    }
                    return Some((RoundLabel::Silent { provider: name.to_owned() }, public, private));
                }
                Err(e) => silent_start_failed(&self.core, name, &e),
            }
        }
        None
    }

    fn sms_round(
        &self,
        phone: &Phone,
        reference: String,
    ) -> (RoundLabel, HashMap<String, String>, HashMap<String, String>) {
        let ending = phone.ending().to_owned();
        let public = HashMap::from([("next".to_owned(), "sms".to_owned()), ("to_ending".to_owned(), ending)]);
        let private = HashMap::from([
            ("kind".to_owned(), "sms".to_owned()),
            ("provider".to_owned(), self.otp.name().to_owned()),
            ("reference".to_owned(), reference.clone()),
            ("phone".to_owned(), phone.e164().to_owned()),
        ]);
        (RoundLabel::Sms { provider: self.otp.name().to_owned(), reference }, public, private)
    }

    /// A new code, within every SMS limit of the number and the global one, claimed for this user's
    /// sign-in as a sign-in claims its code: no other flow can check it (docs/security.md S23). A
    /// verification of another flow in flight for the number is replaced — the password is proven,
    /// as for a sign-in — once; if the provider will not let it go yet, no code this round.
    async fn send_code(
        &self,
        phone: &Phone,
        owner: &VerificationOwner,
    ) -> (RoundLabel, HashMap<String, String>, HashMap<String, String>) {
        let none = |reason| (blocked(reason), HashMap::new(), HashMap::new());
        if !self.core.settings.otp.sms_allowed_to(phone) {
            return none("phone_not_supported");
        }
        // A sign-in's budgets: no reset or site verification for the number can use them up. What a
        // send that did not happen took is given back (docs/security.md R8): an outage of the SMS
        // provider must not use up the number's budget, which its web sign-in draws on too.
        let limits = number_limits(&self.core.settings.limits, FlowKind::Login, &sms_keys(Some(phone), None));
        let mut taken = Reservations::default();
        if taken.take_all(&self.core, &limits).await.is_err() {
            return none("rate_limited");
        }
        let (round, sent) = self.start_code(phone, owner).await;
        if !sent {
            taken.release(&self.core).await;
        }
        round
    }

    /// The code's round, and whether this call had the provider send an SMS.
    async fn start_code(
        &self,
        phone: &Phone,
        owner: &VerificationOwner,
    ) -> ((RoundLabel, HashMap<String, String>, HashMap<String, String>), bool) {
        let none = |reason, sent| ((blocked(reason), HashMap::new(), HashMap::new()), sent);
        let name = self.otp.name();
        let mut sent = false;
        for attempt in 0..2 {
            let Ok(client_ref) = self.core.random.id() else { return none("sms_unavailable", sent) };
            let (reference, new) = match timed(&self.core, name, "otp.start", self.otp.start(phone, &client_ref)).await
            {
                Ok(reference) => (reference, true),
                Err(OtpError::InFlight { reference: Some(reference) }) => (reference, false),
                Err(OtpError::NumberRefused { .. }) => return none("phone_not_supported", sent),
                Err(e) => {
                    provider_error(&self.core, name, "otp_start", &e, "code not sent");
                    return none("sms_unavailable", sent);
                }
            };
            sent |= new;
            let now = self.core.clock.now();
            let until = now.plus_secs(CODE_CLAIM_SECS);
            match self.core.store.claim_verification(name, reference.as_str(), owner, until, now).await {
                Ok(None) => {
                    if new {
                        tracing::info!(event = "sms_sent", provider = name, flow = "cognito", "code sent");
                        self.core.metrics.record(Metric::SmsSent { provider: name });
                    }
                    return (self.sms_round(phone, reference.as_str().to_owned()), sent);
                }
                Ok(Some(_)) if attempt == 0 => {
                    if self.otp.cancel(&reference).await.is_err() {
                        return none("sms_unavailable", sent);
                    }
                    tracing::info!(event = "verification_replaced", flow = "cognito", "another flow's code cancelled");
                }
                Ok(Some(_)) | Err(_) => return none("sms_unavailable", sent),
            }
        }
        none("sms_unavailable", sent)
    }

    /// Verify Auth Challenge Response.
    pub async fn verify(
        &self,
        mut e: CognitoEventUserPoolsVerifyAuthChallenge,
    ) -> CognitoEventUserPoolsVerifyAuthChallenge {
        let private = &e.request.private_challenge_parameters;
        let answer = e.request.challenge_answer.as_ref().and_then(|a| a.as_str()).unwrap_or_default();
        // The number the round was created for must still be the user's, verified.
        let phone = verified_phone(&e.request.user_attributes)
            .filter(|p| private.get("phone").map(String::as_str) == Some(p.e164()));
        let correct = match (phone, private.get("kind").map(String::as_str)) {
            (Some(phone), Some("sms")) => self.check_code(private, &phone, answer).await,
            (Some(phone), Some("silent")) => self.complete_silent(private, &phone, answer).await,
            _ => false,
        };
        let outcome = if correct { "right" } else { "wrong" };
        tracing::info!(event = "cognito_answer", outcome, "Cognito sign-in: an answer checked");
        self.core.metrics.record(Metric::StepOutcome { step: "cognito_verify", outcome });
        e.response.answer_correct = correct;
        e
    }

    async fn check_code(&self, private: &HashMap<String, String>, phone: &Phone, answer: &str) -> bool {
        let (Some(reference), Some(code)) =
            (private.get("reference").and_then(|r| OtpReference::parse(r)), OtpCode::parse(answer))
        else {
            return false;
        };
        if private.get("provider").map(String::as_str) != Some(self.otp.name()) {
            return false;
        }
        let name = self.otp.name();
        match timed(&self.core, name, "otp.check", self.otp.check(&reference, phone, &code)).await {
            Ok(OtpCheck::Approved) => {
                self.core.metrics.record(Metric::OtpVerified { provider: name });
                true
            }
            Ok(_) => false,
            Err(e) => {
                provider_error(&self.core, name, "otp_check", &e, "code not checked");
                false
            }
        }
    }

    /// The redirect's parameters (the client sends the return page's query, or Vonage's fragment, as
    /// the answer) against this round's proof: its prover, its handle, completed once. A proof whose
    /// verdict does not cover the SIM change passes only if the SIM-swap sources say "not changed".
    async fn complete_silent(&self, private: &HashMap<String, String>, phone: &Phone, answer: &str) -> bool {
        let (Some(name), Some(handle)) = (private.get("provider"), private.get("handle")) else { return false };
        let Some(prover) = self.silent.provers.iter().find(|p| p.name() == name) else { return false };
        let params = redirect_params(answer.trim_start_matches(['?', '#']));
        if prover.presented_handle(&params).as_deref() != Some(handle.as_str())
            || prover.redirect_error(&params).is_some()
        {
            return false;
        }
        let window = self.core.settings.sim_change_window_minutes;
        let secret = private.get("secret").cloned().map(SecretString::from);
        let report = match timed(
            &self.core,
            prover.name(),
            "silent.complete",
            prover.complete(handle, secret.as_ref(), &params, phone, window),
        )
        .await
        {
            Ok(report) => report,
            Err(e) => {
                provider_error(&self.core, prover.name(), "silent_complete", &e, "silent proof not completed");
                return false;
            }
        };
        let outcome = with_sim_gate(&self.core, &self.silent.sim_swap, report, phone, window).await;
        self.core.metrics.record(Metric::SilentAttempt { provider: prover.name(), outcome: outcome.as_str() });
        outcome == CheckOutcome::Verified
    }
}

/// How long a sign-in's claim on its code lives: Cognito's longest auth session (15 minutes).
const CODE_CLAIM_SECS: i64 = 900;

/// Whose code a Cognito sign-in's is: the pool's user (the same for every round of its sign-ins), as
/// a sign-in, which no reset or site verification may take over.
/// The user's name (often an email) is hashed: simguard's table keeps no Cognito identity.
fn owner(pool: Option<&str>, user: Option<&str>) -> VerificationOwner {
    let key = TokenHash::of(format!("cognito:{}:{}", pool.unwrap_or_default(), user.unwrap_or_default()).as_bytes());
    let user_id = UserId(format!("cognito:{}", key.as_str().get(..32).unwrap_or_default()));
    VerificationOwner { flow_key: key, kind: FlowKind::Login, user_id }
}

fn round(result: &Option<CognitoEventUserPoolsChallengeResult>) -> Round<'_> {
    match result {
        Some(r) => Round {
            challenge: r.challenge_name.as_deref().unwrap_or(""),
            passed: r.challenge_result,
            label: r.challenge_metadata.as_deref(),
        },
        None => Round { challenge: "", passed: false, label: None },
    }
}

/// The user's `phone_number`, only if Cognito marks it verified: a number the user just changed (an
/// attribute a signed-in user may write) is not proven, and would take the second factor with it.
fn verified_phone(attributes: &HashMap<String, String>) -> Option<Phone> {
    if attributes.get(PHONE_VERIFIED).map(String::as_str) != Some("true") {
        return None;
    }
    // Cognito keeps `phone_number` in E.164: read as stored, without the number library.
    attributes.get(PHONE).and_then(|p| Phone::from_e164(p).ok())
}

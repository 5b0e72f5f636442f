//! Accounts (function `account`): register, login (the first factor), logout, me, and for a
//! signed-in browser: change the password, sign out everywhere.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::PasswordApp;
use crate::domain::{
    Email, Flow, FlowAccount, FlowOrigin, NewFlow, PasswordPolicy, Phone, Session, Token, User, UserId,
};
use crate::http::cookies::{DEVICE, FLOW, SESSION};
use crate::http::extract::{csrf_token_for, require_csrf};
use crate::http::limits::{HOUR, Limit, QUARTER_HOUR, email_key, enforce, ip_key, sms_keys};
use crate::http::support::{notify, notify_account_unless};
use crate::http::{ApiJson, ClientMeta, Problem};
use crate::ports::{CredentialChange, ImportedVerdict, Metric, NotificationKind, StoreError};
use secrecy::SecretString;

/// The registration body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// The email, as typed.
    pub email: String,
    /// The phone number, as typed.
    pub phone: String,
    /// The password, as typed.
    pub password: String,
}

/// `POST /api/register`. The answer is the same whether or not the email was free; if it was taken,
/// its owner is told by email instead (no account enumeration through registration).
pub async fn register(
    State(app): State<PasswordApp>,
    client: ClientMeta,
    ApiJson(body): ApiJson<Register>,
) -> Result<Response, Problem> {
    enforce(&app, &[Limit::new("register_ip", ip_key(client.ip), app.settings.limits.register_per_ip_hour, HOUR)])
        .await?;
    let email = Email::parse(&body.email).map_err(|_| Problem::invalid_email())?;
    let phone = Phone::parse(&body.phone, Some(app.settings.default_region)).map_err(|_| Problem::invalid_phone())?;
    // Pumping needs accounts: a number we would never text is refused here, not at the first SMS.
    if !app.settings.otp.sms_allowed_to(&phone) {
        return Err(Problem::phone_not_supported());
    }
    let password = PasswordPolicy::check(&body.password, Some(email.local_part()))
        .map_err(|r| Problem::weak_password(r.code()))?;
    let password_hash = app.ports.hasher.hash(&password).await?;
    let user = User {
        id: UserId(app.random.id()?),
        email,
        phone,
        password_hash,
        created_at: app.clock.now(),
        phone_verified_at: None,
        credential_version: 0,
        imported_at: None,
        password_imported: false,
    };
    match app.store.create_user(&user).await {
        Ok(()) => {
            // As much work as a registration that finds the address taken (below): the time of the
            // answer does not tell whether the address has an account.
            app.ports.hasher.verify(PasswordPolicy::normalise_for_login(&body.password), None).await;
            tracing::info!(event = "registered", user_id = %user.id, "account created");
        }
        Err(StoreError::EmailTaken(owner)) => {
            // The address, or one that looks the same on a screen, belongs to an account: the same
            // answer as a registration, and its owner is told.
            tracing::info!(event = "register_existing_email", "registration with an email already in use");
            let owner = match owner {
                Some(id) => Some(id),
                // A store that could not say whose it is: look it up.
                None => match app.store.user_by_email(&user.email).await {
                    Ok(Some(owner)) => Some(owner.id),
                    _ => app.store.user_by_skeleton(&user.email.skeleton()).await.ok().flatten().map(|u| u.id),
                },
            };
            // The owner is told — unless the account never proved its phone and either its first
            // two weeks are over (whoever made it never showed they hold the number) or this is
            // its holder again, with its password: a number mistyped at registration (S30). Then
            // this registration takes its place. One read decides; the password is checked (or a
            // dummy) whatever the account — even one that could not be read — so the time of the
            // answer tells nothing.
            let now = user.created_at;
            let (email, again) = (&user.email, PasswordPolicy::normalise_for_login(&body.password));
            let hasher = &app.ports.hasher;
            let checked = AtomicBool::new(false);
            let replaceable = match &owner {
                Some(id) => {
                    let kind = NotificationKind::RegistrationWithExistingEmail;
                    let again = again.clone();
                    let hold = async |o: &User| {
                        checked.store(true, Ordering::Relaxed);
                        let unconfirmed = o.phone_verified_at.is_none() && o.imported_at.is_none();
                        let mine = unconfirmed && &o.email == email;
                        let same_password = hasher.verify(again, mine.then_some(&o.password_hash)).await;
                        o.expired_unconfirmed(now) || (mine && same_password)
                    };
                    notify_account_unless(&app, id, None, kind, client.ip, &client.user_agent, hold).await
                }
                None => None,
            };
            if !checked.load(Ordering::Relaxed) {
                hasher.verify(again, None).await;
            }
            if let Some(old) = replaceable {
                match app.store.replace_unconfirmed_user(&old, &user, now).await {
                    Ok(()) => {
                        tracing::info!(event = "registered", user_id = %user.id, "account created in place of an unconfirmed one");
                        return Ok((StatusCode::CREATED, axum::Json(json!({ "status": "registered" }))).into_response());
                    }
                    // Confirmed or taken meanwhile: the address stays its owner's.
                    Err(StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok((StatusCode::CREATED, axum::Json(json!({ "status": "registered" }))).into_response())
}

/// The phone-check body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckPhone {
    /// The phone number, as typed.
    pub phone: String,
}

/// `POST /api/phone/check`: the number as registration would read it, so the page can show it back
/// before anything is submitted — `{"international":"+44 7700 900002"}`, or the problem
/// registration would answer. It reads and stores nothing.
pub async fn check_phone(
    State(app): State<PasswordApp>,
    ApiJson(body): ApiJson<CheckPhone>,
) -> Result<Response, Problem> {
    let phone = Phone::parse(&body.phone, Some(app.settings.default_region)).map_err(|_| Problem::invalid_phone())?;
    if !app.settings.otp.sms_allowed_to(&phone) {
        return Err(Problem::phone_not_supported());
    }
    Ok(axum::Json(json!({ "international": phone.international() })).into_response())
}

/// The login body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The email, as typed.
    pub email: String,
    /// The password, as typed.
    pub password: String,
}

/// `POST /api/login`: the password, the first factor. A right password starts a login flow (its
/// cookie) and answers `{"next":"second_factor","csrf":…}`; the session comes only after the SIM
/// check and the SMS code of *this* flow. An unknown email and a wrong password get the same answer
/// after the same work (a full Argon2 verification against a dummy hash).
pub async fn login(
    State(app): State<PasswordApp>,
    client: ClientMeta,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response, Problem> {
    let l = &app.settings.limits;
    let Ok(email) = Email::parse(&body.email) else {
        enforce(&app, &[Limit::new("login_ip", ip_key(client.ip), l.login_per_ip_hour, HOUR)]).await?;
        return Err(Problem::invalid_credentials());
    };
    // Per account *and* address: a per-account limit alone would let anyone who knows an email lock
    // its owner out (docs/security.md S22); guessing a password is not enough to sign in anyway.
    let account_here = format!("{}#{}", email_key(&email), ip_key(client.ip));
    let limits = [
        Limit::new("login_ip", ip_key(client.ip), l.login_per_ip_hour, HOUR),
        Limit::new("login_account_ip", account_here, l.login_per_account_15min, QUARTER_HOUR),
    ];
    // The account is read while the limits are counted (one round trip, docs/security.md R11); its
    // password is checked only within them.
    let (allowed, user) = tokio::join!(enforce(&app, &limits), app.store.user_by_email(&email));
    allowed?;
    // An account that never proved its phone in its first two weeks is gone: an unknown email.
    let user = user?.filter(|u| !u.expired_unconfirmed(app.clock.now()));
    let ok = password_matches(&app, user.as_ref(), &body.password).await;
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(event = "login_failed", "wrong email or password");
        app.metrics.record(Metric::StepOutcome { step: "login", outcome: "wrong_credentials" });
        return Err(Problem::invalid_credentials());
    };
    let resp = start_second_factor(&app, &user, FlowOrigin::Login, client).await?;
    tracing::info!(event = "login_password_ok", user_id = %user.id, "password right; second factor next");
    app.metrics.record(Metric::StepOutcome { step: "login", outcome: "password_ok" });
    Ok(resp)
}

/// After the password was right: a flow of `origin` for `user`, whose steps prove the phone next;
/// its cookie and `{"next":"second_factor","csrf"}`.
async fn start_second_factor(
    app: &PasswordApp,
    user: &User,
    origin: FlowOrigin,
    client: ClientMeta,
) -> Result<Response, Problem> {
    let token = app.random.token()?;
    let flow = Flow::start(
        token.hash(),
        NewFlow {
            origin,
            account: FlowAccount::Known { user_id: user.id.clone(), credential_version: user.credential_version },
            sms_keys: sms_keys(Some(&user.phone), None),
            client_ip: client.ip,
            user_agent: client.user_agent,
            now: app.clock.now(),
            ttl_secs: app.settings.flow_ttl_secs,
        },
    );
    app.store.put_flow(&flow).await?;
    let mut resp = axum::Json(json!({ "next": "second_factor", "csrf": csrf_token_for(&token) })).into_response();
    resp.headers_mut().append(header::SET_COOKIE, FLOW.set(&token, app.settings.flow_ttl_secs));
    Ok(resp)
}

/// `POST /api/logout`: the session is deleted on the server, not just forgotten by the browser, and
/// the browser forgets the flow it was in (a phone change half done cannot be finished signed out).
pub async fn logout(State(app): State<PasswordApp>, headers: HeaderMap) -> Result<Response, Problem> {
    if let Some(token) = SESSION.read(&headers) {
        require_csrf(&headers, &token)?;
        app.store.delete_session(&token.hash()).await?;
        tracing::info!(event = "logout", "signed out");
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().append(header::SET_COOKIE, SESSION.clear());
    resp.headers_mut().append(header::SET_COOKIE, FLOW.clear());
    Ok(resp)
}

/// The browser's live session and its account. A session from before the account's last credential
/// change (a reset, a password change, sign out everywhere) is dead: deleted, and its cookie cleared
/// (docs/security.md S19).
/// `csrf`: a state-changing request, which must carry the session's CSRF token (checked before any
/// read).
async fn signed_in(app: &PasswordApp, headers: &HeaderMap, csrf: bool) -> Result<(Token, Session, User), Response> {
    let (token, session, user, ()) = signed_in_while(app, headers, csrf, |_| async {}).await?;
    Ok((token, session, user))
}

/// [`signed_in`], running `also` (given the session's account) while the account is read: one round
/// trip, not two (docs/security.md R11).
async fn signed_in_while<F: std::future::Future>(
    app: &PasswordApp,
    headers: &HeaderMap,
    csrf: bool,
    also: impl FnOnce(UserId) -> F,
) -> Result<(Token, Session, User, F::Output), Response> {
    let unauthorized = || Problem::unauthorized().into_response();
    let token = SESSION.read(headers).ok_or_else(unauthorized)?;
    if csrf {
        require_csrf(headers, &token).map_err(IntoResponse::into_response)?;
    }
    let now = app.clock.now();
    let session = app.store.get_session(&token.hash(), now).await.map_err(|e| Problem::from(e).into_response())?;
    let session = session.ok_or_else(unauthorized)?;
    let (user, side) = tokio::join!(app.store.user_by_id(&session.user_id), also(session.user_id.clone()));
    let user = user.map_err(|e| Problem::from(e).into_response())?;
    match user.filter(|u| u.credential_version == session.credential_version) {
        Some(user) => Ok((token, session, user, side)),
        None => {
            app.store.delete_session(&session.key).await.map_err(|e| Problem::from(e).into_response())?;
            tracing::info!(event = "session_revoked", "session from before a credential change");
            let mut resp = unauthorized();
            resp.headers_mut().append(header::SET_COOKIE, SESSION.clear());
            Err(resp)
        }
    }
}

/// Whether `typed` is the account's password (an unknown account still costs one verification). An
/// imported account's hash is the other system's: verified as such, then replaced by simguard's own
/// (docs/security.md S35).
async fn password_matches(app: &PasswordApp, user: Option<&User>, typed: &str) -> bool {
    let password = PasswordPolicy::normalise_for_login(typed);
    let Some(user) = user.filter(|u| u.password_imported) else {
        return app.ports.hasher.verify(password, user.map(|u| &u.password_hash)).await;
    };
    let raw = SecretString::from(typed.to_owned());
    match app.ports.hasher.verify_imported(raw, password, &user.password_hash).await {
        ImportedVerdict::Wrong => false,
        ImportedVerdict::Right(rehashed) => {
            let upgraded = match rehashed {
                Some(new) => app.store.upgrade_password_hash(&user.id, &user.password_hash, &new).await,
                None => Err(StoreError::Unavailable("no hash made".into())),
            };
            match upgraded {
                Ok(()) => {
                    tracing::info!(event = "imported_password_rehashed", user_id = %user.id, "imported hash replaced")
                }
                // Replaced by a concurrent sign-in, or not now: the next sign-in tries again.
                Err(e) => {
                    tracing::warn!(event = "imported_password_not_rehashed", user_id = %user.id, error = %e, "imported hash kept")
                }
            }
            true
        }
    }
}

/// The signed-in browser's session and account, once the current password was given again.
/// Someone holding a stolen session must not get unlimited guesses at it: they are counted (per
/// account, every re-authentication together) while the account is read.
async fn reauthenticated(
    app: &PasswordApp,
    headers: &HeaderMap,
    password: &str,
    step: &'static str,
) -> Result<(Token, Session, User), Response> {
    let per_15min = app.settings.limits.login_per_account_15min;
    let core = app;
    let guesses = |user: UserId| async move {
        enforce(core, &[Limit::new("password_change_account", format!("user#{}", user.0), per_15min, QUARTER_HOUR)])
            .await
    };
    let (token, session, user, allowed) = signed_in_while(app, headers, true, guesses).await?;
    allowed.map_err(IntoResponse::into_response)?;
    if !password_matches(app, Some(&user), password).await {
        tracing::info!(
            event = "reauthentication_refused",
            step,
            why = "wrong_password",
            "the current password was wrong"
        );
        app.metrics.record(Metric::StepOutcome { step, outcome: "wrong_credentials" });
        return Err(Problem::invalid_credentials().into_response());
    }
    Ok((token, session, user))
}

/// The change-phone body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePhone {
    /// The password now, as typed.
    pub current_password: String,
    /// The new number, as typed.
    pub new_phone: String,
}

/// `POST /api/phone/change`: a signed-in browser starts moving the account to a new number, giving
/// the password again. A phone-change flow starts (its cookie; `{"next":"second_factor","csrf":…}`):
/// the current number is proven as at sign-in (SIM check, code), then the new one (SIM check — no
/// new-account grace —, code); only then does the account take it (docs/security.md S31).
pub async fn change_phone(
    State(app): State<PasswordApp>,
    client: ClientMeta,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChangePhone>,
) -> Result<Response, Response> {
    let (_, _, user) = reauthenticated(&app, &headers, &body.current_password, "phone_change").await?;
    let new_phone = Phone::parse(&body.new_phone, Some(app.settings.default_region))
        .map_err(|_| Problem::invalid_phone().into_response())?;
    if !app.settings.otp.sms_allowed_to(&new_phone) {
        return Err(Problem::phone_not_supported().into_response());
    }
    if new_phone == user.phone {
        return Err(Problem::invalid_phone().with_reason("same_number").into_response());
    }
    let origin = FlowOrigin::PhoneChange { new_phone };
    let resp = start_second_factor(&app, &user, origin, client).await.map_err(IntoResponse::into_response)?;
    tracing::info!(event = "phone_change_started", user_id = %user.id, "password right; both numbers next");
    app.metrics.record(Metric::StepOutcome { step: "phone_change", outcome: "password_ok" });
    Ok(resp)
}

/// The change-password body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password now, as typed.
    pub current_password: String,
    /// The new one, as typed.
    pub new_password: String,
}

/// `POST /api/password`: a signed-in browser changes the password, giving the current one. Every
/// other session and every flow of the account ends (the credential version moves on); this
/// browser stays signed in on a new session, and the owner is told by email (docs/security.md S28).
pub async fn change_password(
    State(app): State<PasswordApp>,
    client: ClientMeta,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<Response, Response> {
    let (_, session, user) = reauthenticated(&app, &headers, &body.current_password, "password_change").await?;
    let new = PasswordPolicy::check(&body.new_password, Some(user.email.local_part()))
        .map_err(|r| Problem::weak_password(r.code()).into_response())?;
    let hash = app.ports.hasher.hash(&new).await.map_err(|e| Problem::from(e).into_response())?;
    let now = app.clock.now();
    let next_token = app.random.token().map_err(|e| Problem::from(e).into_response())?;
    let next_session = Session {
        key: next_token.hash(),
        user_id: user.id.clone(),
        credential_version: user.credential_version + 1,
        created_at: now,
        // The session goes on as long as it would have: a password change does not extend it.
        expires_at: session.expires_at,
    };
    let change = CredentialChange {
        user_id: user.id.clone(),
        expected_version: user.credential_version,
        new_password_hash: Some(hash),
        ended_session: session.key.clone(),
        new_session: Some(next_session),
        audit_event: "password_changed",
        client_ip: client.ip,
        now,
    };
    app.store.change_credentials(&change).await.map_err(|e| credentials_moved_on(e).into_response())?;
    tracing::info!(event = "password_changed", user_id = %user.id, "password changed; other sessions ended");
    app.metrics.record(Metric::StepOutcome { step: "password_change", outcome: "changed" });
    notify(&app, &user, NotificationKind::PasswordChanged, client.ip, &client.user_agent).await;
    let body = json!({ "status": "password_changed", "csrf": csrf_token_for(&next_token) });
    let mut resp = axum::Json(body).into_response();
    let max_age = now.secs_until(session.expires_at).max(0);
    resp.headers_mut().append(header::SET_COOKIE, SESSION.set(&next_token, max_age));
    Ok(resp)
}

/// `POST /api/logout-everywhere`: every session of the account (this one too) and every sign-in or
/// reset in progress ends, at once (the credential version moves on); the owner is told by email.
pub async fn logout_everywhere(
    State(app): State<PasswordApp>,
    client: ClientMeta,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let (_, session, user) = signed_in(&app, &headers, true).await?;
    let change = CredentialChange {
        user_id: user.id.clone(),
        expected_version: user.credential_version,
        new_password_hash: None,
        ended_session: session.key.clone(),
        new_session: None,
        audit_event: "signed_out_everywhere",
        client_ip: client.ip,
        now: app.clock.now(),
    };
    app.store.change_credentials(&change).await.map_err(|e| credentials_moved_on(e).into_response())?;
    tracing::info!(event = "signed_out_everywhere", user_id = %user.id, "every session and flow ended");
    notify(&app, &user, NotificationKind::SignedOutEverywhere, client.ip, &client.user_agent).await;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().append(header::SET_COOKIE, SESSION.clear());
    Ok(resp)
}

/// `GET /api/devices`: the browsers the account remembers (each skips the SMS at sign-in, never the
/// SIM check), this one marked.
pub async fn devices(State(app): State<PasswordApp>, headers: HeaderMap) -> Result<Response, Response> {
    let (_, _, user) = signed_in(&app, &headers, false).await?;
    let this = DEVICE.read(&headers).map(|t| t.hash());
    let list = app.store.devices(&user.id, app.clock.now()).await.map_err(|e| Problem::from(e).into_response())?;
    let list: Vec<_> = list
        .into_iter()
        .filter(|d| d.credential_version == user.credential_version)
        .map(|d| {
            json!({
                "id": d.key.as_str(),
                "label": d.label,
                "remembered_at": d.created_at.to_rfc3339(),
                "this_browser": this.as_ref() == Some(&d.key),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "devices": list })).into_response())
}

/// The forget-a-browser body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetDevice {
    /// The browser's `id`, as `GET /api/devices` lists it.
    pub id: String,
}

/// `POST /api/devices/forget`: the account forgets one of its browsers; its next sign-in asks for a
/// code again.
pub async fn forget_device(
    State(app): State<PasswordApp>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ForgetDevice>,
) -> Result<Response, Response> {
    let (_, _, user) = signed_in(&app, &headers, true).await?;
    if body.id.len() != 64 || !body.id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Problem::invalid_request().into_response());
    }
    let key = crate::domain::TokenHash::from_stored(body.id);
    app.store.delete_device(&user.id, &key).await.map_err(|e| Problem::from(e).into_response())?;
    tracing::info!(event = "device_forgotten", user_id = %user.id, "a remembered browser was forgotten");
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if DEVICE.read(&headers).is_some_and(|t| t.hash() == key) {
        resp.headers_mut().append(header::SET_COOKIE, DEVICE.clear());
    }
    Ok(resp)
}

/// A credential change that lost to another (a reset, a change from another browser): this session
/// is dead now.
fn credentials_moved_on(e: StoreError) -> Problem {
    match e {
        StoreError::Conflict => Problem::unauthorized(),
        other => Problem::from(other),
    }
}

/// `GET /api/me`: who is signed in. A session from before the last credential change is dead
/// (docs/security.md S19).
pub async fn me(State(app): State<PasswordApp>, headers: HeaderMap) -> Result<Response, Response> {
    let (token, _, user) = signed_in(&app, &headers, false).await?;
    Ok(axum::Json(json!({
        "email": user.email.as_str(),
        "phone": user.phone.masked(),
        "csrf": csrf_token_for(&token),
    }))
    .into_response())
}

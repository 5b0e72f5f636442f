//! Security notifications to the account's email address (docs/security.md D6).

use std::net::IpAddr;

use askama::Template;
use async_trait::async_trait;

use crate::domain::{Email, Timestamp};

/// Why the owner is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// The password was changed.
    PasswordReset,
    /// A SIM change within the window stopped a reset or a login.
    SimChangeBlocked,
    /// Someone tried to register with the owner's email.
    RegistrationWithExistingEmail,
    /// The right password was given, then the second factor failed (SIM changed, too many codes).
    SecondFactorFailed,
    /// A sign-in went ahead without a SIM-swap answer (the `allow_with_notice` policy).
    SignInWithoutSimCheck,
    /// The password was changed by someone signed in who knew the old one.
    PasswordChanged,
    /// Every session and sign-in in progress was ended from a signed-in browser.
    SignedOutEverywhere,
    /// The account's phone number was changed by its signed-in owner, who proved both numbers.
    PhoneChanged,
}

impl NotificationKind {
    /// The stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::SimChangeBlocked => "sim_change_blocked",
            Self::RegistrationWithExistingEmail => "registration_with_existing_email",
            Self::SecondFactorFailed => "second_factor_failed",
            Self::SignInWithoutSimCheck => "sign_in_without_sim_check",
            Self::PasswordChanged => "password_changed",
            Self::SignedOutEverywhere => "signed_out_everywhere",
            Self::PhoneChanged => "phone_changed",
        }
    }
}

/// What is sent. It never carries a password, code, token or link that grants anything.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    /// Fresh randomness per notification: a redelivered message is recognised by it and not sent
    /// twice.
    pub id: String,
    /// The account's address.
    pub to: Email,
    /// Why.
    pub kind: NotificationKind,
    /// When it happened.
    pub at: Timestamp,
    /// From which address.
    pub client_ip: IpAddr,
    /// In which browser.
    pub user_agent: String,
    /// Where "this wasn't me" leads: a fixed help page of the site.
    pub not_me_url: String,
}

impl Notification {
    /// The email's subject.
    pub fn subject(&self) -> &'static str {
        match self.kind {
            NotificationKind::PasswordReset => "Your password was changed",
            NotificationKind::SimChangeBlocked => "We stopped a phone check on your account",
            NotificationKind::RegistrationWithExistingEmail => "Someone tried to register with your email address",
            NotificationKind::SecondFactorFailed => "A sign-in to your account was stopped",
            NotificationKind::SignInWithoutSimCheck => "A sign-in to your account could not check your SIM",
            NotificationKind::PasswordChanged => "Your password was changed",
            NotificationKind::SignedOutEverywhere => "Your account was signed out everywhere",
            NotificationKind::PhoneChanged => "The phone number on your account was changed",
        }
    }

    /// What happened, in one paragraph.
    pub fn what(&self) -> &'static str {
        match self.kind {
            NotificationKind::PasswordReset => {
                "The password of your account was changed after your phone was verified."
            }
            NotificationKind::SimChangeBlocked => {
                "Someone tried to verify your phone to reset your password or sign in, but the SIM card for your phone number changed recently, so we refused to use your phone. If you did not change your SIM, contact your mobile operator: your number may have been taken over."
            }
            NotificationKind::RegistrationWithExistingEmail => {
                "Someone tried to create an account with your email address. Your account was not changed."
            }
            NotificationKind::SecondFactorFailed => {
                "Someone entered your password correctly, but the phone check that follows failed, so they were not signed in. If this was not you, change your password now."
            }
            NotificationKind::SignInWithoutSimCheck => {
                "We could not ask your mobile network whether your SIM card changed recently, so a sign-in went ahead with a text message code only. If this was not you, change your password now."
            }
            NotificationKind::PasswordChanged => {
                "The password of your account was changed by someone signed in who gave the old password. Every other browser was signed out. If this was not you, reset your password now."
            }
            NotificationKind::SignedOutEverywhere => {
                "Every browser signed in to your account was signed out, and every sign-in or password reset in progress was stopped. If this was not you, change your password now."
            }
            NotificationKind::PhoneChanged => {
                "The mobile number on your account was changed by someone signed in who gave the password and proved both the old and the new number. Sign-in codes now go to the new number, every other browser was signed out, and remembered browsers were forgotten. If this was not you, contact us now."
            }
        }
    }

    /// The email: its subject, and its plain-text and HTML bodies from the templates in
    /// `shared/templates/` (the HTML one escapes everything it is given). The browser is named from a
    /// fixed list ([`browser_name`]), never with the caller's own text.
    pub fn render(&self, site: &Site) -> Result<Mail, NotifyError> {
        let fields = MailFields {
            subject: self.subject(),
            greeting: "Hello,",
            what: self.what(),
            when: self.at.to_rfc3339(),
            client_ip: self.client_ip.to_string(),
            browser: browser_name(&self.user_agent),
            not_me_url: &self.not_me_url,
            site_name: &site.name,
            support_contact: site.support_contact.as_deref(),
            origin: &site.origin,
        };
        let text = MailText { f: &fields }.render().map_err(|e| NotifyError(format!("text template: {e}")))?;
        let html = MailHtml { f: &fields }.render().map_err(|e| NotifyError(format!("HTML template: {e}")))?;
        Ok(Mail { subject: self.subject().to_owned(), text, html })
    }

    /// The email's plain-text body (the local stack's outbox shows it).
    pub fn body(&self, site: &Site) -> String {
        self.render(site).map(|m| m.text).unwrap_or_default()
    }
}

/// The browser a `User-Agent` names, as "Chrome on Android", from fixed lists only: the header is the
/// caller's to choose, and a genuine security email must not carry an attacker's words or links
/// ("https://evil.example/secure-your-account"). What is not recognised is "an unrecognised browser".
pub fn browser_name(user_agent: &str) -> String {
    const BROWSERS: [(&str, &str); 9] = [
        ("Edg/", "Edge"),
        ("EdgiOS", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser", "Samsung Internet"),
        ("FxiOS", "Firefox"),
        ("Firefox/", "Firefox"),
        ("CriOS", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ];
    const SYSTEMS: [(&str, &str); 8] = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Macintosh", "macOS"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let find = |list: &[(&str, &'static str)]| list.iter().find(|(m, _)| user_agent.contains(m)).map(|(_, n)| *n);
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => format!("a browser on {s}"),
        (None, None) => "an unrecognised browser".to_owned(),
    }
}

/// Who the emails come from, as every email and refusal page names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The site's name as its users know it.
    pub name: String,
    /// Where to ask for help (an address or a page), if the site gives one.
    pub support_contact: Option<String>,
    /// The configured public origin; the only base of links in an email.
    pub origin: String,
}

/// An email, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

struct MailFields<'a> {
    subject: &'a str,
    greeting: &'a str,
    what: &'a str,
    when: String,
    client_ip: String,
    browser: String,
    not_me_url: &'a str,
    site_name: &'a str,
    support_contact: Option<&'a str>,
    origin: &'a str,
}

#[derive(askama::Template)]
#[template(path = "mail.txt", escape = "none")]
struct MailText<'a> {
    f: &'a MailFields<'a>,
}

#[derive(askama::Template)]
#[template(path = "mail.html")]
struct MailHtml<'a> {
    f: &'a MailFields<'a>,
}

impl<'a> std::ops::Deref for MailText<'a> {
    type Target = MailFields<'a>;
    fn deref(&self) -> &MailFields<'a> {
        self.f
    }
}

impl<'a> std::ops::Deref for MailHtml<'a> {
    type Target = MailFields<'a>;
    fn deref(&self) -> &MailFields<'a> {
        self.f
    }
}

/// The notification could not be handed over.
#[derive(Debug, thiserror::Error)]
#[error("notification not sent: {0}")]
pub struct NotifyError(pub String);

/// Tells account owners.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Hands the notification over for delivery.
    async fn notify(&self, notification: Notification) -> Result<(), NotifyError>;
}

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth another try later (throttled, unreachable, out of time).
    #[error("mail not sent, for now: {0}")]
    Transient(String),
    /// Will fail again as it is (an unverified sender, a refused address, bad configuration).
    #[error("mail refused: {0}")]
    Refused(String),
}

/// Sends emails.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail` to `to`.
    async fn send(&self, to: &Email, mail: &Mail) -> Result<(), MailError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(user_agent: &str) -> Notification {
        Notification {
            id: "n1".into(),
            to: Email::parse("alice@example.com").expect("email"),
            kind: NotificationKind::SimChangeBlocked,
            at: Timestamp(1_800_000_000),
            client_ip: "203.0.113.9".parse().expect("ip"),
            user_agent: user_agent.into(),
            not_me_url: "https://app.example/help/not-me.html".into(),
        }
    }

    fn site(support: Option<&str>) -> Site {
        Site {
            name: "Example Bank".into(),
            support_contact: support.map(str::to_owned),
            origin: "https://app.example".into(),
        }
    }

    #[test]
    fn every_kind_renders_text_and_html_signed_by_the_site() {
        for kind in [
            NotificationKind::PasswordReset,
            NotificationKind::SimChangeBlocked,
            NotificationKind::RegistrationWithExistingEmail,
            NotificationKind::SecondFactorFailed,
            NotificationKind::SignInWithoutSimCheck,
            NotificationKind::PasswordChanged,
            NotificationKind::SignedOutEverywhere,
            NotificationKind::PhoneChanged,
        ] {
            let n = Notification { kind, ..notification("Mozilla/5.0") };
            let mail = n.render(&site(Some("help@example.com"))).expect("rendered");
            assert_eq!(mail.subject, n.subject());
            for body in [&mail.text, &mail.html] {
                assert!(body.contains(n.what()) || body.contains(&n.what().replace('\'', "&#39;")), "{kind:?}");
                assert!(body.contains("Example Bank") && body.contains("help@example.com"), "{kind:?}");
                assert!(body.contains("https://app.example/help/not-me.html") && body.contains("203.0.113.9"));
            }
        }
        let without = notification("x").render(&site(None)).expect("rendered");
        assert!(!without.text.contains("questions:"), "no support line without a contact");
    }

    /// The browser's name is the caller's to choose: in HTML it is text, never markup.
    #[test]
    fn the_html_body_escapes_what_the_caller_sent() {
        let mail = notification("<script>alert(1)</script><a href=\"https://evil.example\">x</a>")
            .render(&site(None))
            .expect("rendered");
        assert!(!mail.html.contains("<script>") && !mail.html.contains("evil.example"), "{}", mail.html);
        // Every link in the HTML is the site's own.
        for link in mail.html.split("href=\"").skip(1) {
            assert!(link.starts_with("https://app.example"), "{link}");
        }
    }

    /// The caller's `User-Agent` never reaches an email: only names from fixed lists do.
    #[test]
    fn the_browser_is_named_from_fixed_lists() {
        let chrome_android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
                              Chrome/131.0.0.0 Mobile Safari/537.36";
        let safari_iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                             (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
        let firefox_windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
        let edge_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) \
                        Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
        for (ua, name) in [
            (chrome_android, "Chrome on Android"),
            (safari_iphone, "Safari on iPhone"),
            (firefox_windows, "Firefox on Windows"),
            (edge_mac, "Edge on macOS"),
            ("curl/8.5.0", "an unrecognised browser"),
            ("", "an unrecognised browser"),
        ] {
            assert_eq!(browser_name(ua), name, "{ua}");
        }
        let bait = "Visit https://evil.example/secure-your-account now (Windows)";
        let mail = notification(bait).render(&site(None)).expect("rendered");
        for body in [&mail.text, &mail.html] {
            assert!(!body.contains("evil.example") && !body.contains("Visit"), "{body}");
            assert!(body.contains("a browser on Windows"), "{body}");
        }
    }
}

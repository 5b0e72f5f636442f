//! Security notifications to the account's email address (docs/security.md D6).

use std::net::IpAddr;

use async_trait::async_trait;

use crate::domain::{Email, Timestamp};

/// Why the owner is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
        }
    }
}

/// What is sent. It never carries a password, code, token or link that grants anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
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
        }
    }

    /// The email's plain-text body.
    pub fn body(&self) -> String {
        let what = match self.kind {
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
        };
        format!(
            "{what}\n\nWhen: {}\nFrom IP address: {}\nBrowser: {}\n\nIf this wasn't you, visit {} now.\n",
            self.at.to_rfc3339(),
            self.client_ip,
            self.user_agent,
            self.not_me_url
        )
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

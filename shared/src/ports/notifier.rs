//! Security notifications to the account's email address (SECURITY.md D6).

use std::net::IpAddr;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::domain::Email;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    PasswordReset,
    SimChangeBlocked,
    RegistrationWithExistingEmail,
    /// The right password was given, then the second factor failed (SIM changed, too many codes).
    SecondFactorFailed,
    /// A sign-in went ahead without a SIM-swap answer (the `allow_with_notice` policy).
    SignInWithoutSimCheck,
}

impl NotificationKind {
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
    pub to: Email,
    pub kind: NotificationKind,
    pub at: Timestamp,
    pub client_ip: IpAddr,
    pub user_agent: String,
    /// Where "this wasn't me" leads: a fixed help page of the site.
    pub not_me_url: String,
}

impl Notification {
    pub fn subject(&self) -> &'static str {
        match self.kind {
            NotificationKind::PasswordReset => "Your password was changed",
            NotificationKind::SimChangeBlocked => "We stopped a phone check on your account",
            NotificationKind::RegistrationWithExistingEmail => "Someone tried to register with your email address",
            NotificationKind::SecondFactorFailed => "A sign-in to your account was stopped",
            NotificationKind::SignInWithoutSimCheck => "A sign-in to your account could not check your SIM",
        }
    }

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

#[derive(Debug, thiserror::Error)]
#[error("notification not sent: {0}")]
pub struct NotifyError(pub String);

#[async_trait]
pub trait Notifier: Send + Sync {
    async fn notify(&self, notification: Notification) -> Result<(), NotifyError>;
}

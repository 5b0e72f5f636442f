//! Types that cannot hold invalid values, and the rules that need no I/O. Nothing here imports
//! from another layer of the crate, reads a clock, or touches the network (docs/architecture.md).

pub mod base_url;
pub mod check;
pub mod cognito;
pub mod email;
pub mod flow;
pub mod imported_hash;
pub mod password;
pub mod phone;
pub mod relying_site;
pub mod result_token;
pub mod sim_policy;
pub mod sim_window;
pub mod time;
pub mod token;
pub mod transitions;
pub mod user;
pub mod verification;

pub use check::{CheckOutcome, CheckStatus};
pub use email::{Email, EmailError};
pub use flow::{Flow, FlowAccount, FlowKind, FlowOrigin, FlowReason, FlowState, NewFlow, SilentBinding, SmsKeys};
pub use password::{Password, PasswordHash, PasswordPolicy, PasswordRejection};
pub use phone::{Phone, PhoneError, Region};
pub use time::Timestamp;
pub use token::{Token, TokenHash};
pub use transitions::{FlowCounter, FlowEvent, FlowWrites, OutOfOrder, Transition};
pub use user::{RememberedDevice, Session, User, UserId};

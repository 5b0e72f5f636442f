//! Types that cannot hold invalid values, and the rules that need no I/O.

pub mod email;
pub mod flow;
pub mod outcome;
pub mod password;
pub mod phone;
pub mod sim_policy;
pub mod user;

pub use email::{Email, EmailError};
pub use flow::{Flow, FlowCounter, FlowKind, FlowReason, FlowState, FlowUpdate};
pub use outcome::CheckOutcome;
pub use password::{HashCost, Password, PasswordHash, PasswordHasher, PasswordPolicy, PasswordRejection};
pub use phone::{Phone, PhoneError};
pub use user::{Session, User, UserId};

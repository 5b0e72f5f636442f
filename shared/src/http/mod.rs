//! The HTTP face of simguard: one handler module per Lambda function, the same code behind Lambda,
//! the local stack and the tests. Handler modules (`coverage`, `create_check`, `callback`,
//! `reset_password`, `sim_check`, `otp_start`, `otp_verify`, `account`, `verification_api`) never
//! import each other; what they share is in `support`, `results`, `limits`, `cookies`, `extract` and
//! `problem`.

pub mod account;
pub mod callback;
pub mod cookies;
pub mod coverage;
pub mod create_check;
pub mod extract;
pub mod limits;
pub mod otp_start;
pub mod otp_verify;
pub mod problem;
pub mod reset_password;
pub mod results;
pub mod sim_check;
pub mod support;
pub mod verification_api;

pub use extract::{ApiJson, ClientMeta};
pub use problem::Problem;

/// Header carrying the synchronizer token of the current flow or session (docs/security.md G1).
pub const CSRF_HEADER: &str = "x-csrf-token";

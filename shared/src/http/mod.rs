//! The HTTP face of simguard: one handler per route, the same code behind Lambda, the local stack and
//! the tests.

pub mod account;
pub mod cookies;
pub mod coverage;
pub mod extract;
pub mod flow_support;
pub mod limits;
pub mod problem;
pub mod reset;
pub mod second_factor;

pub use extract::{ApiJson, ClientMeta};
pub use problem::Problem;

/// Header carrying the synchronizer token of the current flow or session (SECURITY.md G1).
pub const CSRF_HEADER: &str = "x-csrf-token";

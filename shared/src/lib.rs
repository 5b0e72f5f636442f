//! simguard: prove a user still holds their phone — tru.ID SubscriberCheck first, a SIM-swap gate
//! before any SMS, an SMS code as the fallback — as AWS Lambda functions.
//!
//! Layers, lowest first (docs/architecture.md; a test enforces what may import what):
//! [`domain`] (types and rules, no I/O) → [`ports`] (traits for the outside world) →
//! [`adapters`] (their implementations) and [`config`] (settings) → [`app`] (a function's state) →
//! [`http`] (one handler module per function) → [`routes`] (the route table) → [`assembly`] (the one
//! place state is built, for Lambda, the local stack and the tests). [`consumer`] is the notification
//! queue's consumer, beside [`http`]. [`function`], [`site`] and [`telemetry`] stand apart.

#![deny(missing_docs)]

pub mod adapters;
pub mod app;
pub mod assembly;
pub mod cognito;
pub mod config;
pub mod consumer;
pub mod domain;
pub mod function;
pub mod http;
pub mod import;
pub mod ports;
pub mod routes;
pub mod site;
pub mod telemetry;

pub use config::Settings;
pub use function::Function;
pub use routes::{ROUTES, Route};

//! simguard: prove a user still holds their phone — tru.ID SubscriberCheck first, a SIM-swap gate
//! before any SMS, an SMS code as the fallback — as AWS Lambda functions.
//!
//! Layout: [`domain`] (types and rules, no I/O), [`ports`] (traits for the outside world),
//! [`adapters`] (their implementations), [`http`] (handlers), [`routes`] (the route table and
//! routers), [`bootstrap`] (building the state for a Lambda function).

pub mod adapters;
pub mod app;
pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod ports;
pub mod random;
pub mod routes;
pub mod site;
pub mod telemetry;

pub use app::{App, SharedApp};
pub use config::Settings;
pub use routes::{Function, ROUTES, Route};

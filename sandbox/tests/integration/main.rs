//! The sandbox's integration tests, in one binary: each provider's wire protocol, checked against the
//! providers' own OpenAPI files in `provider-specs/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod camara;
mod silent_vendors;
mod truid;
mod twilio;
mod vonage;

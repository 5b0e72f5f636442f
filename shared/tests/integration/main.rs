//! The `simguard` crate's integration tests, in one binary (one link, shared helpers in `support`).
//! Tests that need moto start it through `support::moto` (once per binary) and run in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod account_life;
mod account_security;
mod architecture;
mod attacks;
mod cognito_triggers;
mod documents;
mod email;
mod events;
mod faults;
mod import_users;
mod infra;
mod log_canaries;
mod metrics;
mod otp_clients;
mod panic_hook;
mod reset_flow;
mod result_tokens;
mod round_trips;
mod routes;
mod second_factor;
mod secrets_manager;
mod settings;
mod silent_clients;
mod silent_login;
mod silent_phone_change;
mod silent_provers;
mod silent_vendors;
mod sim_sources;
mod sim_swap_clients;
mod store_suite;
mod truid_client;
mod verification_api;

//! Implementations of the ports. Adapters depend on the ports and the domain, never on the
//! configuration, the handlers or each other's callers (docs/architecture.md).

pub mod argon2;
pub mod aws;
pub mod camara;
pub mod clock;
pub mod dynamo;
pub mod email;
pub mod http_client;
pub mod imported_hash;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod oauth_token;
pub mod random;
pub mod result_tokens;
pub mod secrets;
pub mod secrets_manager;
pub mod tls;
pub mod truid_http;
pub mod truid_silent;
pub mod truid_sim_swap;
pub mod twilio;
pub mod twilio_lookup;
pub mod vonage;

//! Implementations of the ports.

pub mod dynamo;
pub mod http_client;
pub mod memory;
pub mod notify;
pub mod secrets_manager;
pub mod truid_http;
pub mod twilio;
pub mod unused;
pub mod vonage;

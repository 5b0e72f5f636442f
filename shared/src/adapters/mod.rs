//! Implementations of the ports.

pub mod memory;
pub mod notify;
pub mod truid_http;

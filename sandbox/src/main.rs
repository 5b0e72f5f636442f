//! The provider sandbox on its own: `cargo run -p simguard-sandbox -- [--port 9001]`.
//! `--print-secret` prints the credentials it accepts as simguard's provider secret (JSON) and exits,
//! for `simguard-admin put-secret`.

use std::net::{Ipv4Addr, SocketAddr};

use simguard_sandbox::{Sandbox, SandboxConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::registry().with(tracing_subscriber::fmt::layer()).with(filter).init();
    let mut args = std::env::args().skip(1);
    let mut port = 9001u16;
    let config = SandboxConfig::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--print-secret" => {
                println!("{}", config.provider_secret());
                return Ok(());
            }
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| std::io::Error::other("--port takes a number"))?;
            }
            _ => return Err(std::io::Error::other("usage: simguard-sandbox [--port PORT] | --print-secret")),
        }
    }
    let sandbox = Sandbox::start(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), config.clone()).await?;
    println!("provider sandbox on {}", sandbox.base_url());
    println!("  tru.ID client id {:?}, secret {:?}", config.truid.client_id, config.truid.client_secret);
    println!("  Vonage api_key {:?}, api_secret {:?}", config.vonage.api_key, config.vonage.api_secret);
    println!(
        "  Twilio account {:?}, auth token {:?}, service {:?}",
        config.twilio.account_sid, config.twilio.auth_token, config.twilio.service_sid
    );
    println!("  sent SMS: GET {}/_sandbox/outbox", sandbox.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}

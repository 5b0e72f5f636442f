//! `cargo run -p simguard-local` — see README.md.

use simguard_local::{DEMO_PASSWORD, DEMO_USERS, LocalStack, Options};

fn port(var: &str, default: u16) -> Result<u16, String> {
    match std::env::var(var) {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("{var} must be a port number")),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    simguard::telemetry::init();
    let mut opts = Options::default();
    opts.port = port("SIMGUARD_LOCAL_PORT", opts.port)?;
    opts.sandbox_port = port("SIMGUARD_SANDBOX_PORT", opts.sandbox_port)?;
    if let Ok(dir) = std::env::var("SIMGUARD_STATIC_DIR") {
        opts.static_dir = dir.into();
    }
    if !opts.static_dir.join("vendor/tru-sdk-web.mjs").exists() {
        eprintln!(
            "warning: {} has no vendor/tru-sdk-web.mjs; run `npm --prefix static-site ci && npm --prefix static-site run build` (scripts/dev does)",
            opts.static_dir.display()
        );
    }
    let stack = LocalStack::start(opts).await?;
    println!("simguard local stack");
    println!("  site:    {}/", stack.url);
    println!(
        "  outbox:  {}/dev/outbox   (the emails it would have sent)",
        stack.url
    );
    println!(
        "  sandbox: {}   (tru.ID; every check_url redirects back here like an operator would)",
        stack.sandbox.base_url()
    );
    println!("demo users, password \"{DEMO_PASSWORD}\":");
    for (email, phone, what) in DEMO_USERS {
        println!("  {email:<20} {phone}  {what}");
    }
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    Ok(())
}

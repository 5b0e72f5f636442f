//! `cargo run -p simguard-local` — see README.md.

use simguard::config::OtpProviderKind;
use simguard_local::{DEMO_PASSWORD, DEMO_USERS, LocalStack, Options, SiteProxy};

fn port(var: &str, default: u16) -> Result<u16, String> {
    match std::env::var(var) {
        Ok(v) => v.parse().map_err(|_| format!("{var} must be a port number")),
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
    if let Ok(p) = std::env::var("SIMGUARD_OTP_PROVIDER") {
        opts.otp_provider =
            OtpProviderKind::parse(&p).ok_or("SIMGUARD_OTP_PROVIDER must be vonage-v1, vonage-v2 or twilio")?;
    }
    let mut api_proxy: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--otp" => {
                let p = args.next().unwrap_or_default();
                opts.otp_provider = OtpProviderKind::parse(&p).ok_or("--otp takes vonage-v1, vonage-v2 or twilio")?;
            }
            "--no-coverage" => opts.device_coverage = false,
            "--api-proxy" => api_proxy = Some(args.next().ok_or("--api-proxy takes the URL of cargo lambda watch")?),
            _ => {
                return Err(format!(
                    "unknown argument {arg:?}; usage: simguard-local [--otp vonage-v1|vonage-v2|twilio] [--no-coverage] | --api-proxy URL"
                ));
            }
        }
    }
    if !opts.static_dir.join("vendor/tru-sdk-web.mjs").exists() {
        eprintln!(
            "warning: {} has no vendor/tru-sdk-web.mjs; run `npm --prefix static-site ci && npm --prefix static-site run build` (scripts/dev does)",
            opts.static_dir.display()
        );
    }
    if let Some(api) = api_proxy {
        // The site only: the functions run under `cargo lambda watch`, the sandbox on its own.
        let site = SiteProxy::start(opts.port, opts.static_dir, &api).await?;
        println!("simguard site");
        println!("  site:    {}/   (/api/* forwarded to {api})", site.url);
        println!("Press Ctrl-C to stop.");
        tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
        return Ok(());
    }
    let device_coverage = opts.device_coverage;
    let stack = LocalStack::start(opts, |var| std::env::var(var).ok()).await?;
    println!("simguard local stack");
    println!("  site:    {}/", stack.url);
    println!("  outbox:  {}/dev/outbox   (the text messages and emails it would have sent)", stack.url);
    println!(
        "  sandbox: {}   (tru.ID, Vonage, Twilio; check_url redirects back like an operator would)",
        stack.sandbox.base_url()
    );
    println!("  SMS via: {}   (choose with --otp vonage-v1|vonage-v2|twilio)", stack.otp_provider.as_str());
    for (part, what) in &stack.parts {
        println!("  {:<8} {what}", format!("{part}:"));
    }
    if !device_coverage {
        println!("  device coverage off (--no-coverage): password resets take the SMS path");
    }
    println!("demo users, password \"{DEMO_PASSWORD}\":");
    for (email, phone, what) in DEMO_USERS {
        println!("  {email:<20} {phone}  {what}");
    }
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    Ok(())
}

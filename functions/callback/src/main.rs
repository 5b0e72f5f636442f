//! Lambda bootstrap of the `callback` function (GET /api/reset/callback).

// One request at a time per execution environment: one thread, no cross-thread wake-ups (docs/security.md R11).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_lambda::<simguard::app::WithSilentGate>(simguard::Function::Callback).await
}

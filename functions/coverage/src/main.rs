//! Lambda bootstrap of the `coverage` function (GET /api/coverage).

// One request at a time per execution environment: one thread, no cross-thread wake-ups (docs/security.md R11).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_lambda::<simguard::app::WithSilent>(simguard::Function::Coverage).await
}

//! Lambda bootstrap of the `otp-start` function (POST /api/otp/start).

// One request at a time per execution environment: one thread, no cross-thread wake-ups (docs/security.md R11).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_lambda::<simguard::app::WithOtp>(simguard::Function::OtpStart).await
}

//! Lambda bootstrap of the `otp-start` function (POST /api/otp/start).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_lambda::<simguard::app::WithOtp>(simguard::Function::OtpStart).await
}

//! Lambda bootstrap of the `otp-verify` function (POST /api/otp/verify).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_lambda::<simguard::app::WithOtp>(simguard::Function::OtpVerify).await
}

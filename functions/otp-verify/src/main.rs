//! Lambda bootstrap of the `otp-verify` function (POST /api/otp/verify).

use simguard::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::telemetry::init();
    let settings = simguard::Settings::from_env()?;
    let app = simguard::bootstrap::lambda_app(settings, Function::OtpVerify).await?;
    lambda_http::run(simguard::routes::router(app, Some(Function::OtpVerify))?).await
}

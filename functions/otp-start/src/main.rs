//! Lambda bootstrap of the `otp-start` function (POST /api/otp/start).

use simguard::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::telemetry::init();
    let settings = simguard::Settings::from_env()?;
    let app = simguard::bootstrap::lambda_app(settings, Function::OtpStart).await?;
    lambda_http::run(simguard::routes::router(app, Some(Function::OtpStart))?).await
}

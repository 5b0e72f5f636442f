//! Lambda bootstrap of the `reset-password` function (POST /api/reset/password).

use simguard::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::telemetry::init();
    let settings = simguard::Settings::from_env()?;
    let app = simguard::bootstrap::lambda_app(settings, Function::ResetPassword).await?;
    lambda_http::run(simguard::routes::router(app, Some(Function::ResetPassword))?).await
}

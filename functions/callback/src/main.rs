//! Lambda bootstrap of the `callback` function (GET /api/reset/callback).

use simguard::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::telemetry::init();
    let settings = simguard::Settings::from_env()?;
    let app = simguard::bootstrap::lambda_app(settings, Function::Callback).await?;
    lambda_http::run(simguard::routes::router(app, Some(Function::Callback))?).await
}

//! Lambda bootstrap of the `coverage` function (GET /api/coverage).

use simguard::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::telemetry::init();
    let settings = simguard::Settings::from_env()?;
    let app = simguard::bootstrap::lambda_app(settings, Function::Coverage).await?;
    lambda_http::run(simguard::routes::router(app, Some(Function::Coverage))?).await
}

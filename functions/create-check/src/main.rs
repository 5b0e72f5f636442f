//! Lambda bootstrap of the `create-check` function (POST /api/reset/check).

use simguard::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::telemetry::init();
    let settings = simguard::Settings::from_env()?;
    let app = simguard::bootstrap::lambda_app(settings, Function::CreateCheck).await?;
    lambda_http::run(simguard::routes::router(app, Some(Function::CreateCheck))?).await
}

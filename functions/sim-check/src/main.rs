//! Lambda bootstrap of the `sim-check` function (POST /api/sim-check).

use simguard::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::telemetry::init();
    let settings = simguard::Settings::from_env()?;
    let app = simguard::bootstrap::lambda_app(settings, Function::SimCheck).await?;
    lambda_http::run(simguard::routes::router(app, Some(Function::SimCheck))?).await
}

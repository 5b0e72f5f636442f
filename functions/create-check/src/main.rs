//! Lambda bootstrap of the `create-check` function (POST /api/reset/check).

use simguard::Function;

const FUNCTION: Function = Function::CreateCheck;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::telemetry::init();
    let settings = simguard::Settings::from_env_for(FUNCTION)?;
    let app = simguard::bootstrap::lambda_app(settings, FUNCTION).await?;
    lambda_http::run(simguard::routes::router(app, Some(FUNCTION))?).await
}

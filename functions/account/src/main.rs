//! Lambda bootstrap of the `account` function (POST /api/register, /api/login, /api/logout; GET /api/me).

use simguard::Function;

const FUNCTION: Function = Function::Account;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::telemetry::init();
    let settings = simguard::Settings::from_env_for(FUNCTION)?;
    let app = simguard::bootstrap::lambda_app(settings, FUNCTION).await?;
    lambda_http::run(simguard::routes::router(app, Some(FUNCTION))?).await
}

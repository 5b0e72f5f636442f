//! Lambda bootstrap of the `account` function (POST /api/register, /api/login, /api/logout; GET /api/me).

use simguard::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::telemetry::init();
    let settings = simguard::Settings::from_env()?;
    let app = simguard::bootstrap::lambda_app(settings, Function::Account).await?;
    lambda_http::run(simguard::routes::router(app, Some(Function::Account))?).await
}

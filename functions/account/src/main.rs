//! Lambda bootstrap of the `account` function (POST /api/register, /api/login, /api/logout; GET /api/me).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_lambda::<simguard::app::WithPasswords>(simguard::Function::Account).await
}

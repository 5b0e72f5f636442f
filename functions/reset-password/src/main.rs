//! Lambda bootstrap of the `reset-password` function (POST /api/reset/password).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_lambda::<simguard::app::WithPasswords>(simguard::Function::ResetPassword).await
}

//! Lambda bootstrap of the `callback` function (GET /api/reset/callback).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_lambda::<simguard::app::WithTruId>(simguard::Function::Callback).await
}

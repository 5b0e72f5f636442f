//! Lambda bootstrap of the `create-check` function (POST /api/reset/check).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_lambda::<simguard::app::WithTruId>(simguard::Function::CreateCheck).await
}

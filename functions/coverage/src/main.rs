//! Lambda bootstrap of the `coverage` function (GET /api/coverage).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_lambda::<simguard::app::WithTruId>(simguard::Function::Coverage).await
}

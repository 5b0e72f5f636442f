//! Lambda bootstrap of the `sim-check` function (POST /api/sim-check).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_lambda::<simguard::app::WithTruId>(simguard::Function::SimCheck).await
}

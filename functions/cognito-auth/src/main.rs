//! Lambda bootstrap of the `cognito-auth` function: Amazon Cognito's define, create and verify
//! auth-challenge triggers (docs/cognito.md).

// One trigger at a time per execution environment: one thread (docs/security.md R11).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_cognito_triggers().await
}

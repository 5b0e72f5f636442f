//! Lambda bootstrap of the `notify` function: the notification queue's consumer (SQS → SES).

// One batch at a time per execution environment: one thread (docs/security.md R11).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    simguard::assembly::run_consumer().await
}

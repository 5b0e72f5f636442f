//! `simguard-admin`: the setup steps that must never run inside a Lambda.
//!
//! ```text
//! simguard-admin create-table <TABLE>      the table of DESIGN.md §5 (on-demand, TTL, PITR)
//! simguard-admin put-secret <SECRET_ID>    the provider-credentials JSON, read from standard input
//! ```
//! AWS settings come from the usual environment (`AWS_REGION`, credentials, and `AWS_ENDPOINT_URL`
//! for a local server such as moto).

use std::io::Read;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;

const USAGE: &str = "usage: simguard-admin create-table <TABLE> | put-secret <SECRET_ID> < secret.json";

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["create-table", table] => {
            let client = aws_sdk_dynamodb::Client::new(&aws);
            simguard::adapters::dynamo::create_table(&client, table).await?;
            println!("created table {table}");
        }
        ["put-secret", id] => {
            let mut json = String::new();
            std::io::stdin().read_to_string(&mut json).map_err(|e| format!("reading the secret from stdin: {e}"))?;
            // Refuse what the functions would refuse, before it is stored.
            simguard::adapters::secrets_manager::parse_secret(&json).map_err(|e| e.to_string())?;
            let client = aws_sdk_secretsmanager::Client::new(&aws);
            match client.put_secret_value().secret_id(*id).secret_string(&json).send().await {
                Ok(_) => println!("stored a new version of {id}"),
                Err(e) if e.code() == Some("ResourceNotFoundException") => {
                    client
                        .create_secret()
                        .name(*id)
                        .secret_string(&json)
                        .send()
                        .await
                        .map_err(|e| format!("CreateSecret {id}: {}", e.code().unwrap_or("transport")))?;
                    println!("created secret {id}");
                }
                Err(e) => return Err(format!("PutSecretValue {id}: {}", e.code().unwrap_or("transport"))),
            }
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

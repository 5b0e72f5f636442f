//! `simguard-admin`: the setup steps that must never run inside a Lambda.
//!
//! ```text
//! simguard-admin create-table <TABLE>      the table of docs/architecture.md ("Data"): on-demand, TTL, PITR
//! simguard-admin put-secret <SECRET_ID>    provider credentials (JSON on standard input), merged
//!                                          into the secret: keys not given are kept, and so is the
//!                                          password pepper unless --replace-pepper
//! ```
//! AWS settings come from the usual environment (`AWS_REGION`, credentials, and `AWS_ENDPOINT_URL`
//! for a local server such as moto).

use std::io::Read;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use simguard::adapters::secrets_manager::merge_secret;

const USAGE: &str =
    "usage: simguard-admin create-table <TABLE> | put-secret <SECRET_ID> [--replace-pepper] < secret.json";

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The full provider chain (profiles, SSO, …): this runs on an operator's machine, not in a Lambda.
    let http = simguard::adapters::aws::ReqwestHttp::new()?;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http).load().await;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["create-table", table] => {
            let client = aws_sdk_dynamodb::Client::new(&aws);
            simguard::adapters::dynamo::create_table(&client, table).await?;
            println!("created table {table}");
        }
        ["put-secret", id, flags @ ..] if flags.iter().all(|f| *f == "--replace-pepper") => {
            let mut update = String::new();
            std::io::stdin().read_to_string(&mut update).map_err(|e| format!("reading the secret from stdin: {e}"))?;
            let client = aws_sdk_secretsmanager::Client::new(&aws);
            let current = match client.get_secret_value().secret_id(*id).send().await {
                Ok(out) => Some(out.secret_string().unwrap_or("{}").to_owned()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => None,
                Err(e) => return Err(format!("GetSecretValue {id}: {}", e.code().unwrap_or("transport"))),
            };
            // Refuses what the functions would refuse, and a silent pepper change, before storing.
            let json = merge_secret(current.as_deref(), &update, !flags.is_empty())?;
            if current.is_some() {
                client
                    .put_secret_value()
                    .secret_id(*id)
                    .secret_string(&json)
                    .send()
                    .await
                    .map_err(|e| format!("PutSecretValue {id}: {}", e.code().unwrap_or("transport")))?;
                println!("stored a new version of {id}");
            } else {
                client
                    .create_secret()
                    .name(*id)
                    .secret_string(&json)
                    .send()
                    .await
                    .map_err(|e| format!("CreateSecret {id}: {}", e.code().unwrap_or("transport")))?;
                println!("created secret {id}");
            }
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

//! `simguard-admin`: the setup steps that must never run inside a Lambda.
//!
//! ```text
//! simguard-admin create-table <TABLE>      the table of docs/architecture.md ("Data"): on-demand, TTL, PITR
//! simguard-admin put-secret <SECRET_ID>    provider credentials (JSON on standard input), merged
//!                                          into the secret: keys not given are kept, and so is the
//!                                          password pepper unless --replace-pepper
//! simguard-admin create-queue <NAME>       the notification queue (prints its URL), for local runs
//! simguard-admin verify-sender <IDENTITY>  asks SES to verify a sender (a domain or an address)
//! simguard-admin set-phone <TABLE> <EMAIL> <+PHONE>
//!                                          support, for a user who lost their phone: the account's
//!                                          number becomes this one (the next sign-in proves it); every
//!                                          session, flow and remembered browser ends
//!                                          (docs/operations.md)
//! simguard-admin import-users <TABLE> <FILE.csv|FILE.jsonl> [--dry-run] [--phones-confirmed] [--region GB]
//!                                          brings a site's existing users in (docs/import.md): email,
//!                                          phone and the site's password hash per row; reports every
//!                                          row it refused and why; re-running changes nothing
//! simguard-admin put-site <TABLE> <SITE_ID> <NAME> <RETURN_URL>...
//!                                          registers a site of the verification API, or replaces its
//!                                          name and return URLs (matched exactly)
//! simguard-admin create-api-key <TABLE> <SITE_ID>
//!                                          a new key for the site, printed once (stored as a hash)
//! simguard-admin put-site-principal <TABLE> <SITE_ID> <ROLE_OR_USER_ARN>
//!                                          lets an IAM role or user call the verification API's
//!                                          IAM-authorised routes as the site
//! simguard-admin create-signing-key <KID> [--published]
//!                                          a new P-256 key for the result tokens, printed as one entry
//!                                          of the secret's `result_signing_keys` (docs/verification-api.md)
//! simguard-admin rotate-signing-key <SECRET_ID> stage|promote|retire <KID>
//!                                          one step of a result-token key rollover, stored as a new
//!                                          version of the secret (docs/verification-api.md, "Keys")
//! simguard-admin list-api-keys <TABLE> <SITE_ID>
//! simguard-admin revoke-api-key <TABLE> <SITE_ID> <KEY_ID>
//! simguard-admin forward-queue <QUEUE_URL> <INVOKE_URL>
//!                                          Lambda's SQS event source mapping, for `cargo lambda
//!                                          watch`: hands the queue's batches to the function at
//!                                          INVOKE_URL and deletes what it does not hand back
//! ```
//! AWS settings come from the usual environment (`AWS_REGION`, credentials, and `AWS_ENDPOINT_URL`
//! for a local server such as moto).

mod sites;

use std::io::Read;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use simguard::adapters::secrets_manager::merge_secret;

const USAGE: &str = "usage: simguard-admin create-table <TABLE> | put-secret <SECRET_ID> [--replace-pepper] < secret.json \
     | create-queue <NAME> | verify-sender <IDENTITY> | forward-queue <QUEUE_URL> <INVOKE_URL> \
     | set-phone <TABLE> <EMAIL> <+PHONE> \
     | import-users <TABLE> <FILE.csv|FILE.jsonl> [--dry-run] [--phones-confirmed] [--region <CC>] \
     | put-site <TABLE> <SITE_ID> <NAME> <RETURN_URL>... | create-api-key <TABLE> <SITE_ID> \
     | list-api-keys <TABLE> <SITE_ID> | revoke-api-key <TABLE> <SITE_ID> <KEY_ID> \
     | put-site-principal <TABLE> <SITE_ID> <ARN> | create-signing-key <KID> [--published] \
     | rotate-signing-key <SECRET_ID> stage|promote|retire <KID>";

/// Stores `json` as the secret's new current version.
async fn put_secret_version(client: &aws_sdk_secretsmanager::Client, id: &str, json: &str) -> Result<(), String> {
    client
        .put_secret_value()
        .secret_id(id)
        .secret_string(json)
        .send()
        .await
        .map_err(|e| format!("PutSecretValue {id}: {}", e.code().unwrap_or("transport")))?;
    Ok(())
}

fn step_name(step: simguard::adapters::result_tokens::Rollover<'_>) -> &'static str {
    use simguard::adapters::result_tokens::Rollover;
    match step {
        Rollover::Stage(_) => "published",
        Rollover::Promote(_) => "now signing with",
        Rollover::Retire(_) => "removed",
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The full provider chain (profiles, SSO, …): this runs on an operator's machine, not in a Lambda.
    let http = simguard::adapters::aws::ReqwestHttp::new().map_err(|e| e.to_string())?;
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
            let json = merge_secret(current.as_deref(), &update, !flags.is_empty()).map_err(|e| e.to_string())?;
            if current.is_some() {
                put_secret_version(&client, id, &json).await?;
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
        ["create-queue", name] => {
            let out = aws_sdk_sqs::Client::new(&aws)
                .create_queue()
                .queue_name(*name)
                .send()
                .await
                .map_err(|e| format!("CreateQueue {name}: {}", e.code().unwrap_or("transport")))?;
            println!("{}", out.queue_url().unwrap_or_default());
        }
        ["verify-sender", identity] => {
            aws_sdk_sesv2::Client::new(&aws)
                .create_email_identity()
                .email_identity(*identity)
                .send()
                .await
                .map_err(|e| format!("CreateEmailIdentity {identity}: {}", e.code().unwrap_or("transport")))?;
            println!("asked SES to verify {identity}");
        }
        ["set-phone", table, email, phone] => {
            set_phone(aws_sdk_dynamodb::Client::new(&aws), table, email, phone).await?;
        }
        ["import-users", table, file, flags @ ..] => {
            import_users(aws_sdk_dynamodb::Client::new(&aws), table, file, flags).await?;
        }
        ["put-site", table, site, name, urls @ ..] if !urls.is_empty() => {
            sites::put_site(&store(&aws, table), site, name, urls).await?;
        }
        ["create-api-key", table, site] => sites::create_api_key(&store(&aws, table), site).await?,
        ["create-signing-key", kid, flags @ ..] if flags.iter().all(|f| *f == "--published") => {
            let key =
                simguard::adapters::result_tokens::generate_key(kid, flags.is_empty()).map_err(|e| e.to_string())?;
            eprintln!("add this entry to the secret's result_signing_keys (comma-separated); it is shown once:");
            println!("{}", simguard::adapters::result_tokens::format_signing_key(&key));
        }
        ["rotate-signing-key", id, step, kid] => {
            use simguard::adapters::result_tokens::{Rollover, roll_signing_keys};
            let step = match *step {
                "stage" => Rollover::Stage(kid),
                "promote" => Rollover::Promote(kid),
                "retire" => Rollover::Retire(kid),
                _ => return Err(USAGE.into()),
            };
            let client = aws_sdk_secretsmanager::Client::new(&aws);
            let current = client
                .get_secret_value()
                .secret_id(*id)
                .send()
                .await
                .map_err(|e| format!("GetSecretValue {id}: {}", e.code().unwrap_or("transport")))?;
            let current = current.secret_string().unwrap_or("{}").to_owned();
            let keys = serde_json::from_str::<serde_json::Value>(&current)
                .ok()
                .and_then(|v| v["result_signing_keys"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let keys = roll_signing_keys(&keys, step).map_err(|e| e.to_string())?;
            let update = serde_json::json!({ "result_signing_keys": keys }).to_string();
            let json = merge_secret(Some(&current), &update, false).map_err(|e| e.to_string())?;
            put_secret_version(&client, id, &json).await?;
            println!("{id}: {} {kid}; the functions read it within SIMGUARD_SECRET_TTL_SECONDS", step_name(step));
        }
        ["put-site-principal", table, site, arn] => sites::put_site_principal(&store(&aws, table), site, arn).await?,
        ["list-api-keys", table, site] => sites::list_api_keys(&store(&aws, table), site).await?,
        ["revoke-api-key", table, site, key_id] => sites::revoke_api_key(&store(&aws, table), site, key_id).await?,
        ["forward-queue", queue_url, invoke_url] => {
            forward_queue(&aws_sdk_sqs::Client::new(&aws), queue_url, invoke_url).await?;
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

/// What Lambda's SQS event source mapping does, for a function run by `cargo lambda watch`: receive
/// up to ten messages, invoke the function with them as an SQS event, delete every message it did
/// not name in `batchItemFailures` (those become visible again after the visibility timeout, as in
/// Lambda). Runs until stopped.
async fn forward_queue(sqs: &aws_sdk_sqs::Client, queue_url: &str, invoke_url: &str) -> Result<(), String> {
    let http = simguard::adapters::tls::reqwest_builder().build().map_err(|e| e.to_string())?;
    println!("forwarding {queue_url} to {invoke_url}");
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(30)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                eprintln!("ReceiveMessage: {}", e.code().unwrap_or("transport"));
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                serde_json::json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "eventSource": "aws:sqs",
                })
            })
            .collect();
        let answer = http.post(invoke_url).json(&serde_json::json!({ "Records": records })).send().await;
        let failed: Vec<String> = match answer {
            Ok(resp) if resp.status().is_success() => {
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                body["batchItemFailures"]
                    .as_array()
                    .map(|f| f.iter().filter_map(|i| i["itemIdentifier"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default()
            }
            // The invocation failed as a whole: every message comes back.
            other => {
                eprintln!("invoking the function failed: {:?}", other.map(|r| r.status()));
                continue;
            }
        };
        for m in &messages {
            if failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                continue;
            }
            if let Some(handle) = m.receipt_handle() {
                let deleted = sqs.delete_message().queue_url(queue_url).receipt_handle(handle).send().await;
                if let Err(e) = deleted {
                    eprintln!("DeleteMessage: {}", e.code().unwrap_or("transport"));
                }
            }
        }
        println!("forwarded {} message(s), {} handed back", messages.len(), failed.len());
    }
}

/// Support's path for a user who lost their phone (docs/operations.md,
/// "A user who lost their phone"): after the operator has confirmed who they are, the number is `phone`;
/// the next sign-in proves it. The credential version moves on, so every session, sign-in or reset in progress and
/// remembered browser ends; the next sign-in proves the new number (SIM check, then a code).
async fn set_phone(client: aws_sdk_dynamodb::Client, table: &str, email: &str, phone: &str) -> Result<(), String> {
    use simguard::domain::{Email, Phone, Timestamp};
    use simguard::ports::{PhoneChange, Store};
    let email = Email::parse(email).map_err(|e| format!("{email:?}: {e}"))?;
    // International form only: an operator's region is not the user's.
    let phone =
        Phone::parse(phone, None).map_err(|e| format!("{phone:?}: {e} (give it with + and the country code)"))?;
    let store = simguard::adapters::dynamo::DynamoStore::new(client, table);
    let user = store.user_by_email(&email).await.map_err(|e| e.to_string())?.ok_or("no account has that email")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?;
    let change = PhoneChange {
        user_id: user.id.clone(),
        expected_version: user.credential_version,
        phone: phone.clone(),
        audit_event: "phone_changed_by_support",
        client_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        now: Timestamp(i64::try_from(now.as_secs()).unwrap_or(i64::MAX)),
        // Support's word, not a proof: the next sign-in proves the number.
        proof: None,
    };
    store.change_phone(&change).await.map_err(|e| format!("not changed: {e} (try again)"))?;
    println!(
        "{} now has {}: its sessions, sign-ins in progress and remembered browsers have ended",
        email.masked(),
        phone.masked()
    );
    Ok(())
}

/// `import-users`: reads the whole file, checks every row, writes one whole account per row (none in a
/// dry run), and prints each refused row (masked email, never the phone or hash) and the totals.
/// Progress goes to standard error.
async fn import_users(client: aws_sdk_dynamodb::Client, table: &str, file: &str, flags: &[&str]) -> Result<(), String> {
    use simguard::domain::{Region, Timestamp};
    use simguard::import::{ImportOptions, import_users, read_csv, read_jsonl};
    let mut options = ImportOptions { dry_run: false, phones_confirmed: false, region: None, now: Timestamp(0) };
    let mut rest = flags.iter();
    while let Some(flag) = rest.next() {
        match *flag {
            "--dry-run" => options.dry_run = true,
            "--phones-confirmed" => options.phones_confirmed = true,
            "--region" => {
                let code = rest.next().ok_or("--region needs a country code (GB)")?;
                options.region =
                    Some(Region::parse(code).ok_or_else(|| format!("--region {code}: not a country code"))?);
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let input = std::fs::File::open(file).map_err(|e| format!("{file}: {e}"))?;
    let rows = if file.ends_with(".csv") {
        read_csv(input)
    } else if file.ends_with(".jsonl") || file.ends_with(".ndjson") {
        read_jsonl(std::io::BufReader::new(input))
    } else {
        return Err(format!("{file}: name it .csv or .jsonl"));
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?;
    options.now = Timestamp(i64::try_from(now.as_secs()).unwrap_or(i64::MAX));
    let store = simguard::adapters::dynamo::DynamoStore::new(client, table);
    let random = simguard::adapters::random::OsRandom;
    let report = import_users(&store, &random, rows, options, |done, total| eprintln!("{done}/{total} rows")).await;
    let report =
        report.map_err(|e| format!("stopped: {e} (run it again to finish: imported accounts stay as they are)"))?;
    for r in &report.rejected {
        println!("line {}: {} {}", r.line, r.why.code(), r.email);
    }
    let verb = if options.dry_run { "would create" } else { "created" };
    println!(
        "{verb} {}, unchanged {}, rejected {}{}",
        report.created,
        report.unchanged,
        report.rejected.len(),
        if options.dry_run { " (dry run: nothing written)" } else { "" }
    );
    Ok(())
}

/// The table's store.
fn store(aws: &aws_config::SdkConfig, table: &str) -> simguard::adapters::dynamo::DynamoStore {
    simguard::adapters::dynamo::DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), table)
}

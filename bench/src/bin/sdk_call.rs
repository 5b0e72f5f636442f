//! What one DynamoDB call costs the function's CPU, apart from DynamoDB: the SDK client simguard's
//! functions use (the same HTTP client, timeouts and retries), calling an in-process endpoint that
//! answers at once with a canned item, next to the same request sent with reqwest alone. CPU time is
//! this thread's (`/proc/thread-self/schedstat`, summed over many calls); the endpoint runs on
//! another thread, so its work is not counted. First, what building the DynamoDB and SQS clients
//! costs a cold process.
//!
//! ```sh
//! cargo build --release -p simguard-bench
//! ./target/release/sdk-call            # 2000 calls of each; --calls N; --moto: against moto instead
//! ```

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use simguard::adapters::aws::{AwsEnvironment, ReqwestHttp};
use simguard_bench::lambda::{median, percentile, schedstat_ns};

const ITEM: &str = r#"{"Item":{"pk":{"S":"account#0123456789abcdef"},"sk":{"S":"profile"},"email":{"S":"someone@example.com"},"phone":{"S":"+447700900002"},"verified_at":{"N":"1764500000"},"version":{"N":"7"}}}"#;

/// Nanoseconds this thread has spent on a CPU.
fn thread_cpu_ns() -> u64 {
    schedstat_ns(std::path::Path::new("/proc/thread-self/schedstat")).unwrap_or(0)
}

/// An endpoint on its own thread and runtime that answers every POST with [`ITEM`].
fn endpoint() -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
            let app = axum::Router::new().fallback(|| async {
                ([("content-type", "application/x-amz-json-1.0"), ("x-amzn-requestid", "bench")], ITEM)
            });
            let _ = axum::serve(listener, app).await;
        });
    });
    Ok(url)
}

/// CPU µs of each of `calls` runs of `one`, after as many to warm up.
async fn measure<F, Fut>(calls: usize, mut one: F) -> Result<Vec<f64>, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    for _ in 0..calls {
        one().await?;
    }
    let mut out = Vec::with_capacity(calls);
    for _ in 0..calls {
        let before = thread_cpu_ns();
        one().await?;
        out.push((thread_cpu_ns() - before) as f64 / 1000.0);
    }
    Ok(out)
}

fn report(name: &str, xs: Vec<f64>) {
    println!("| {name} | {:.0} | {:.0} |", median(xs.clone()), percentile(xs, 90));
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let calls =
        std::env::args().skip_while(|a| a != "--calls").nth(1).and_then(|n| n.parse().ok()).unwrap_or(2000usize);
    // `--moto`: the same calls against moto (behind the benchmarks' keep-alive proxy) instead.
    let moto = if std::env::args().any(|a| a == "--moto") { Some(simguard_bench::lambda::moto().await?) } else { None };
    let url = match &moto {
        Some(moto) => moto.url.clone(),
        None => endpoint()?,
    };
    tokio::time::sleep(Duration::from_millis(50)).await;

    let vars = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_ENDPOINT_URL", url.as_str()),
    ];
    let environment = AwsEnvironment::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
        .map_err(|e| e.to_string())?;
    let sdk = environment.sdk_config(ReqwestHttp::new().map_err(|e| e.to_string())?);
    // What building each client costs a cold start (the first of each kind in this process; a
    // second DynamoDB client takes about 17 µs: most of the first one's time is its code and data
    // touched for the first time). No waiting on this thread, so wall time is its CPU time
    // (schedstat would not see it: the kernel updates it when the thread is switched out).
    let before = std::time::Instant::now();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let built_dynamodb = before.elapsed().as_micros();
    let before = std::time::Instant::now();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let built_sqs = before.elapsed().as_micros();
    drop(sqs);

    if moto.is_some() {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        dynamodb
            .create_table()
            .table_name("simguard")
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk").map_err(|e| e.to_string())?)
            .attribute_definitions(attribute("sk").map_err(|e| e.to_string())?)
            .key_schema(key("pk", KeyType::Hash).map_err(|e| e.to_string())?)
            .key_schema(key("sk", KeyType::Range).map_err(|e| e.to_string())?)
            .send()
            .await
            .map_err(|e| format!("CreateTable: {e:?}"))?;
    }
    let plain = simguard::adapters::tls::reqwest_builder().build().map_err(|e| e.to_string())?;

    println!("building a client, first in the process: DynamoDB {built_dynamodb} µs, SQS {built_sqs} µs");
    println!("CPU per call, {calls} calls each, warm (µs on this thread)");
    println!("| call | median µs | p90 µs |");
    println!("|---|---|---|");
    let get_item = measure(calls, || async {
        dynamodb
            .get_item()
            .table_name("simguard")
            .key("pk", AttributeValue::S("account#0123456789abcdef".into()))
            .key("sk", AttributeValue::S("profile".into()))
            .consistent_read(true)
            .send()
            .await
            .map(drop)
            .map_err(|e| format!("GetItem: {e:?}"))
    })
    .await?;
    report("DynamoDB GetItem through the SDK", get_item);
    let body = r#"{"TableName":"simguard","Key":{"pk":{"S":"account#0123456789abcdef"},"sk":{"S":"profile"}},"ConsistentRead":true}"#;
    let raw = measure(calls, || async {
        let answer = plain
            .post(&url)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        answer.bytes().await.map(drop).map_err(|e| e.to_string())
    })
    .await?;
    report("the same request with reqwest alone (no signing, no SDK)", raw);
    Ok(())
}

//! Every file in `events/` (the API Gateway events of `cargo lambda invoke`, README "Run the functions
//! with cargo lambda watch") goes through the router of the function its folder names, as Lambda
//! hands it over, and gets the status its file name promises: `<what>.<status>.json`.

use std::path::Path;

use serde_json::Value;
use simguard::{Function, ROUTES};

use std::sync::Arc;

use crate::support::*;

/// The site the events come from (their `Origin`): the `cargo lambda watch` recipe's.
const EVENTS_ORIGIN: &str = "http://127.0.0.1:8080";

#[tokio::test]
async fn every_event_gets_the_status_in_its_name() {
    let env = Env::builder().var("SIMGUARD_PUBLIC_BASE_URL", EVENTS_ORIGIN).start().await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut seen = 0;
    for folder in std::fs::read_dir(&dir).expect("events/").flatten().filter(|e| e.path().is_dir()) {
        let name = folder.file_name().to_string_lossy().into_owned();
        let function = Function::by_name(&name).unwrap_or_else(|| panic!("events/{name} is not a function"));
        if function == Function::CognitoAuth {
            seen += cognito_events(&env, &folder.path()).await;
            continue;
        }
        if !function.serves_http() {
            seen += queue_events(&folder.path()).await;
            continue;
        }
        for file in std::fs::read_dir(folder.path()).expect("a function's events").flatten() {
            let file_name = file.file_name().to_string_lossy().into_owned();
            let status: u16 = file_name
                .strip_suffix(".json")
                .and_then(|n| n.rsplit_once('.'))
                .and_then(|(_, s)| s.parse().ok())
                .unwrap_or_else(|| panic!("events/{name}/{file_name}: name it <what>.<status>.json"));
            let json = std::fs::read_to_string(file.path()).expect("event");
            let event: Value = serde_json::from_str(&json).expect("JSON");
            let path = event["rawPath"].as_str().expect("rawPath");
            let method = event["requestContext"]["http"]["method"].as_str().expect("method");
            assert!(
                ROUTES.iter().any(|r| r.path == path && r.method == method && r.function == function),
                "events/{name}/{file_name}: {method} {path} is not a route of {name}"
            );
            let resp = env.send_event_json(path, &json).await;
            assert_eq!(resp.status, status, "events/{name}/{file_name}: {}", resp.text());
            seen += 1;
        }
    }
    assert!(seen >= Function::ALL.len(), "every function has an event: {seen}");
}

/// The Cognito triggers' events, named `<what>.<outcome>.json`: what Define decides (`fail`,
/// `tokens`, or the challenge's name in kebab case), what Create starts (its `next`), what Verify
/// says (`right`, `wrong`).
async fn cognito_events(env: &Env, dir: &Path) -> usize {
    env.no_coverage();
    let triggers = env.cognito.as_ref().expect("the Cognito triggers");
    let mut seen = 0;
    for file in std::fs::read_dir(dir).expect("the triggers' events").flatten() {
        let file_name = file.file_name().to_string_lossy().into_owned();
        let want = file_name
            .strip_suffix(".json")
            .and_then(|n| n.rsplit_once('.'))
            .map(|(_, o)| o.to_owned())
            .unwrap_or_else(|| panic!("events/cognito-auth/{file_name}: name it <what>.<outcome>.json"));
        let event: Value = serde_json::from_str(&std::fs::read_to_string(file.path()).expect("event")).expect("JSON");
        let source = event["triggerSource"].as_str().unwrap_or_default().to_owned();
        let out = triggers.handle(event).await.unwrap_or_else(|e| panic!("events/cognito-auth/{file_name}: {e}"));
        let r = &out["response"];
        let got = match source.as_str() {
            "DefineAuthChallenge_Authentication" if r["issueTokens"] == true => "tokens".to_owned(),
            "DefineAuthChallenge_Authentication" if r["failAuthentication"] == true => "fail".to_owned(),
            "DefineAuthChallenge_Authentication" => {
                r["challengeName"].as_str().unwrap_or("?").to_ascii_lowercase().replace('_', "-")
            }
            "CreateAuthChallenge_Authentication" => {
                r["publicChallengeParameters"]["next"].as_str().unwrap_or("?").to_owned()
            }
            _ if r["answerCorrect"] == true => "right".to_owned(),
            _ => "wrong".to_owned(),
        };
        assert_eq!(got, want, "events/cognito-auth/{file_name}: {r}");
        seen += 1;
    }
    seen
}

/// The consumer's events (SQS batches), named `<what>.<n>-handed-back.json`: each goes through the
/// `notify` function as assembled for Lambda (with a mailer that keeps what it is given), which hands
/// back `n` messages and sends the rest.
async fn queue_events(dir: &Path) -> usize {
    use simguard::assembly::{Assembly, Storage};
    let mut seen = 0;
    for file in std::fs::read_dir(dir).expect("the consumer's events").flatten() {
        let file_name = file.file_name().to_string_lossy().into_owned();
        let handed_back: usize = file_name
            .strip_suffix("-handed-back.json")
            .and_then(|n| n.rsplit_once('.'))
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("events/notify/{file_name}: name it <what>.<n>-handed-back.json"));
        let event: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_str(&std::fs::read_to_string(file.path()).expect("event")).expect("an SQS event");
        let records = event.records.len();
        let mailer = Arc::new(KeptMail::default());
        let settings = simguard::Settings::for_function(Function::Notify, |k| match k {
            "SIMGUARD_PUBLIC_BASE_URL" => Some(EVENTS_ORIGIN.into()),
            "SIMGUARD_MAIL_FROM" => Some("notices@example.com".into()),
            _ => None,
        })
        .expect("settings");
        let consumer = Assembly::new(Storage::Memory(Arc::new(simguard::adapters::memory::MemoryStore::new())))
            .with_mailer(mailer.clone())
            .consumer(settings)
            .expect("the consumer");
        let answer = consumer.handle(event, None).await;
        assert_eq!(answer.batch_item_failures.len(), handed_back, "events/notify/{file_name}");
        assert_eq!(mailer.sent().len(), records - handed_back, "events/notify/{file_name}");
        seen += 1;
    }
    seen
}

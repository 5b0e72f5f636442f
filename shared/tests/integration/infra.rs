//! The deployable system, checked offline: the SAM template (infra/sam/template.yaml) and
//! the CDK app's synthesized template (infra/cdk) describe the same routes as the route table, give
//! each function the environment its code reads and nothing else, and allow it the table and secret
//! actions its code calls and nothing else.
//!
//! "What its code calls" is measured, not listed: every function runs on its own App, built by the
//! Lambda bootstrap from the template's environment for it, behind an emulated CloudFront (the
//! templates' origin request policy and origin-verify header), on DynamoDB and Secrets Manager
//! (moto), through every flow; an SDK interceptor records each call as the IAM action it needs.
//!
//! Needs moto (see tests/support/moto.rs) and `npm ci` in infra/cdk (`scripts/test` does both); the
//! CDK app is synthesized by the test itself, without building the functions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::support::*;
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use serde_json::{Value, json};
use simguard::adapters::dynamo::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};
use simguard::adapters::secrets_manager::{SECRET_KEYS, parse_secret};
use simguard::config::{required_when_deployed, variables};
use simguard::ports::Metric;
use simguard::{Function, ROUTES};

/// The stack name both templates default to (samconfig.toml, cdk.json).
const STACK: &str = "simguard";
const SITE_DOMAIN: &str = "app.example";
const ORIGIN_SECRET: &str = "origin-verify-secret";
/// What the origin-verify secret's `token` resolves to in these tests.
const ORIGIN_TOKEN: &str = "origin-verify-token-0123456789abcdefghijklmnop";
/// The parameters a deployment must give (no default), as these tests give them.
const REQUIRED_PARAMETERS: &[(&str, &str)] = &[("MailFrom", "notices@example.com")];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ---------------------------------------------------------------------------------------------
// Templates

/// A CloudFormation template in its JSON form (SAM's short-form tags expanded).
struct Template {
    kind: &'static str,
    doc: Value,
}

fn sam() -> &'static Template {
    static SAM: OnceLock<Template> = OnceLock::new();
    SAM.get_or_init(|| {
        let text = std::fs::read_to_string(repo().join("infra/sam/template.yaml")).expect("infra/sam/template.yaml");
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("the SAM template is YAML");
        Template { kind: "SAM", doc: yaml_to_json(yaml) }
    })
}

/// Synthesizes the CDK app (skipping the Rust builds: `-c skipBundling=true`) into a temporary
/// directory and reads its one stack template.
fn cdk() -> &'static Template {
    static CDK: OnceLock<Template> = OnceLock::new();
    CDK.get_or_init(|| cdk_with(&[]))
}

/// The CDK app synthesized with these context values (as `-c key=value`).
fn cdk_with(context: &[(&str, &str)]) -> Template {
    {
        let dir = repo().join("infra/cdk");
        assert!(
            dir.join("node_modules/aws-cdk-lib").is_dir(),
            "infra/cdk has no node_modules: run `npm --prefix infra/cdk ci` (scripts/test does)"
        );
        static SYNTHS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SYNTHS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let out = std::env::temp_dir().join(format!("simguard-cdk-out-{}-{n}", std::process::id()));
        let mut args: Vec<String> = ["--no-install", "cdk", "synth", "--no-notices", "-q", "-c", "skipBundling=true"]
            .map(str::to_owned)
            .to_vec();
        for (k, v) in context {
            args.extend(["-c".to_owned(), format!("{k}={v}")]);
        }
        args.push("-o".to_owned());
        let status = std::process::Command::new("npx")
            .args(&args)
            .arg(&out)
            .current_dir(&dir)
            .env("CDK_DISABLE_CLI_TELEMETRY", "true")
            .stdout(std::process::Stdio::null())
            .status()
            .expect("npx cdk synth");
        assert!(status.success(), "cdk synth failed");
        let template = std::fs::read_dir(&out)
            .expect("cdk.out")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".template.json"))
            .expect("a stack template");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&template).expect("read")).expect("JSON");
        let _ = std::fs::remove_dir_all(&out);
        Template { kind: "CDK", doc }
    }
}

fn yaml_to_json(v: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => json!(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Y::String(s) => json!(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_yaml_ng::to_string(&other).unwrap_or_default().trim().to_owned(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = yaml_to_json(t.value);
            match name {
                "Ref" | "Condition" => json!({ name: value }),
                "GetAtt" => match value {
                    Value::String(s) => {
                        let (r, a) = s.split_once('.').expect("!GetAtt Resource.Attribute");
                        json!({ "Fn::GetAtt": [r, a] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                other => json!({ format!("Fn::{other}"): value }),
            }
        }
    }
}

impl Template {
    fn resources(&self) -> &serde_json::Map<String, Value> {
        self.doc["Resources"].as_object().expect("Resources")
    }
    fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.resources().iter().filter(move |(_, r)| r["Type"] == kind)
    }
    fn one_of_type<'a>(&'a self, kind: &'a str) -> (&'a String, &'a Value) {
        let all: Vec<_> = self.of_type(kind).collect();
        assert_eq!(all.len(), 1, "{}: one {kind}", self.kind);
        all[0]
    }
    fn resource_type(&self, id: &str) -> &str {
        self.resources().get(id).and_then(|r| r["Type"].as_str()).unwrap_or_else(|| panic!("no resource {id}"))
    }
    /// The logical id a `Ref` / `Fn::GetAtt` (or a list of one) points at.
    fn target(v: &Value) -> Option<String> {
        if let Some(r) = v["Ref"].as_str() {
            return Some(r.to_owned());
        }
        if let Some(r) = v["Fn::GetAtt"][0].as_str() {
            return Some(r.to_owned());
        }
        if let Some(s) = v["Fn::Sub"].as_str() {
            return s.strip_prefix("integrations/${").and_then(|r| r.strip_suffix('}')).map(str::to_owned);
        }
        if let Some(parts) = v["Fn::Join"][1].as_array() {
            return parts.iter().find_map(Self::target);
        }
        None
    }
    fn secret_role(&self, id: &str) -> &'static str {
        match self.resources()[id]["Properties"]["GenerateSecretString"]["GenerateStringKey"].as_str() {
            Some("password_pepper") => "provider",
            Some("token") => "origin",
            other => panic!("{}: unexpected secret {id} ({other:?})", self.kind),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resolving intrinsic functions the way CloudFormation would, with test values for the resources

struct Resolver<'a> {
    t: &'a Template,
    params: BTreeMap<String, String>,
    table: String,
    provider_secret: String,
    queue_url: String,
}

impl<'a> Resolver<'a> {
    fn new(t: &'a Template, table: &str, provider_secret: &str) -> Self {
        let mut params = BTreeMap::new();
        if let Some(ps) = t.doc["Parameters"].as_object() {
            for (k, p) in ps {
                let given = REQUIRED_PARAMETERS.iter().find(|(name, _)| name == k).map(|(_, v)| (*v).to_owned());
                if let Some(d) = scalar(&p["Default"]).or(given) {
                    params.insert(k.clone(), d);
                }
            }
        }
        let queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/simguard-notify".into();
        Resolver { t, params, table: table.into(), provider_secret: provider_secret.into(), queue_url }
    }

    /// The notification queue is this one (moto's, for a deployment the test runs).
    fn with_queue(mut self, url: &str) -> Self {
        self.queue_url = url.into();
        self
    }

    fn with(mut self, param: &str, value: &str) -> Self {
        assert!(self.params.contains_key(param), "{}: no parameter {param}", self.t.kind);
        self.params.insert(param.into(), value.into());
        self
    }

    fn reference(&self, name: &str) -> Option<String> {
        match name {
            "AWS::NoValue" => return None,
            "AWS::StackName" => return Some(STACK.into()),
            "AWS::Region" => return Some("us-east-1".into()),
            "AWS::AccountId" => return Some("123456789012".into()),
            "AWS::Partition" => return Some("aws".into()),
            "AWS::URLSuffix" => return Some("amazonaws.com".into()),
            _ => {}
        }
        if let Some(p) = self.params.get(name) {
            return Some(p.clone());
        }
        Some(match self.t.resource_type(name) {
            "AWS::DynamoDB::Table" => self.table.clone(),
            "AWS::SecretsManager::Secret" => match self.t.secret_role(name) {
                "provider" => self.provider_secret.clone(),
                _ => ORIGIN_SECRET.into(),
            },
            "AWS::ApiGatewayV2::Api" => "api0123456".into(),
            "AWS::SQS::Queue" if self.is_dead_letter_queue(name) => format!("{}-dlq", self.queue_url),
            "AWS::SQS::Queue" => self.queue_url.clone(),
            "AWS::SES::ConfigurationSet" => "simguard-mail".into(),
            // A function's name: the same for SAM and CDK, whatever their logical ids.
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                format!("fn-{}", tag(&self.t.resources()[name]["Properties"], "simguard:function").unwrap_or_default())
            }
            "AWS::SNS::Topic" => "alarm-topic".into(),
            "AWS::CloudFront::Distribution" => "E0DISTRIBUTION".into(),
            other => format!("ref-{other}-{name}"),
        })
    }

    fn attribute(&self, resource: &str, attribute: &str) -> String {
        match (self.t.resource_type(resource), attribute) {
            ("AWS::CloudFront::Distribution", "DomainName") => SITE_DOMAIN.into(),
            ("AWS::DynamoDB::Table", "Arn") => format!("arn:aws:dynamodb:us-east-1:123456789012:table/{}", self.table),
            ("AWS::SQS::Queue", "QueueName") if self.is_dead_letter_queue(resource) => "simguard-notify-dlq".into(),
            ("AWS::SQS::Queue", "QueueName") => "simguard-notify".into(),
            (kind, attr) => format!("attr-{kind}-{resource}-{attr}"),
        }
    }

    /// Whether another queue parks its failed messages in this one.
    fn is_dead_letter_queue(&self, id: &str) -> bool {
        self.t.of_type("AWS::SQS::Queue").any(|(_, q)| {
            Template::target(&q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]).as_deref() == Some(id)
        })
    }

    /// `v` with every intrinsic function resolved (for comparing SAM's resources with CDK's).
    fn resolve_deep(&self, v: &Value) -> Value {
        match v {
            Value::Object(o) if o.len() == 1 && o.keys().all(|k| k == "Ref" || k.starts_with("Fn::")) => {
                self.resolve(v).map_or(Value::Null, Value::String)
            }
            Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), self.resolve_deep(v))).collect()),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.resolve_deep(v)).collect()),
            Value::Number(n) => Value::String(n.to_string()),
            other => other.clone(),
        }
    }

    fn condition(&self, name: &str) -> bool {
        self.truth(&self.t.doc["Conditions"][name])
    }

    fn truth(&self, v: &Value) -> bool {
        if let Some(args) = v["Fn::Equals"].as_array() {
            return self.string(&args[0]) == self.string(&args[1]);
        }
        if let Some(args) = v["Fn::Not"].as_array() {
            return !self.truth(&args[0]);
        }
        if let Some(args) = v["Fn::And"].as_array() {
            return args.iter().all(|a| self.truth(a));
        }
        if let Some(args) = v["Fn::Or"].as_array() {
            return args.iter().any(|a| self.truth(a));
        }
        if let Some(c) = v["Condition"].as_str() {
            return self.condition(c);
        }
        panic!("{}: cannot evaluate condition {v}", self.t.kind)
    }

    fn string(&self, v: &Value) -> String {
        self.resolve(v).unwrap_or_else(|| panic!("{}: {v} resolved to no value", self.t.kind))
    }

    /// `None` is `AWS::NoValue`. Dynamic references are resolved in the finished string, as
    /// CloudFormation does after the intrinsic functions.
    fn resolve(&self, v: &Value) -> Option<String> {
        self.raw(v).map(|s| self.dynamic_references(&s))
    }

    fn raw_string(&self, v: &Value) -> String {
        self.raw(v).unwrap_or_else(|| panic!("{}: {v} resolved to no value", self.t.kind))
    }

    fn raw(&self, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Object(o) if o.len() == 1 => {
                let (k, arg) = o.iter().next().expect("one key");
                match k.as_str() {
                    "Ref" => self.reference(arg.as_str().expect("Ref name")),
                    "Fn::GetAtt" => Some(self.attribute(
                        arg[0].as_str().expect("GetAtt resource"),
                        arg[1].as_str().expect("GetAtt attribute"),
                    )),
                    "Fn::Join" => {
                        let sep = arg[0].as_str().expect("Join separator");
                        let parts: Vec<String> =
                            arg[1].as_array().expect("Join list").iter().map(|p| self.raw_string(p)).collect();
                        Some(parts.join(sep))
                    }
                    "Fn::Sub" => Some(self.sub(arg)),
                    "Fn::Select" => {
                        let index: usize = self.raw_string(&arg[0]).parse().expect("Select index");
                        let list = match &arg[1] {
                            Value::Object(o) if o.contains_key("Fn::Split") => {
                                let split = &o["Fn::Split"];
                                let sep = split[0].as_str().expect("Split separator").to_owned();
                                self.raw_string(&split[1]).split(&sep).map(str::to_owned).collect::<Vec<_>>()
                            }
                            list => list.as_array().expect("Select list").iter().map(|p| self.raw_string(p)).collect(),
                        };
                        list.get(index).cloned()
                    }
                    "Fn::If" => {
                        let branch =
                            if self.condition(arg[0].as_str().expect("If condition")) { &arg[1] } else { &arg[2] };
                        self.raw(branch)
                    }
                    other => panic!("{}: unsupported intrinsic {other}", self.t.kind),
                }
            }
            other => panic!("{}: cannot resolve {other} to a string", self.t.kind),
        }
    }

    fn sub(&self, arg: &Value) -> String {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), serde_json::Map::new()),
            Value::Array(a) => (a[0].as_str().expect("Sub text"), a[1].as_object().cloned().unwrap_or_default()),
            other => panic!("Fn::Sub {other}"),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            let name = &rest[start + 2..end];
            let value = match vars.get(name) {
                Some(v) => self.raw_string(v),
                None => match name.split_once('.') {
                    Some((r, a)) => self.attribute(r, a),
                    None => self.reference(name).expect("a value"),
                },
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// `{{resolve:secretsmanager:<id>:SecretString:<key>[:…]}}`, as CloudFormation resolves it.
    fn dynamic_references(&self, s: &str) -> String {
        let Some(start) = s.find("{{resolve:") else {
            return s.to_owned();
        };
        let end = s[start..].find("}}").expect("}}") + start;
        let reference = &s[start + "{{resolve:".len()..end];
        let parts: Vec<&str> = reference.split(':').collect();
        let value = match parts.as_slice() {
            ["secretsmanager", id, "SecretString", "token", ..] if *id == ORIGIN_SECRET => ORIGIN_TOKEN.to_owned(),
            _ => panic!("{}: unexpected dynamic reference {reference}", self.t.kind),
        };
        format!("{}{value}{}", &s[..start], self.dynamic_references(&s[end + 2..]))
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Functions, routes and policies, read the same way from both templates

#[derive(Debug)]
struct Deployed {
    logical_id: String,
    props: Value,
    env: BTreeMap<String, Value>,
    statements: Vec<Value>,
    managed_policies: Vec<Value>,
}

fn function_by_name(name: &str) -> Function {
    *Function::ALL.iter().find(|f| f.name() == name).unwrap_or_else(|| panic!("no function {name}"))
}

fn tag(props: &Value, key: &str) -> Option<String> {
    match &props["Tags"] {
        Value::Object(m) => m.get(key).and_then(Value::as_str).map(str::to_owned),
        Value::Array(list) => {
            list.iter().find(|t| t["Key"] == key).and_then(|t| t["Value"].as_str()).map(str::to_owned)
        }
        _ => None,
    }
}

fn functions(t: &Template) -> BTreeMap<Function, Deployed> {
    let mut out = BTreeMap::new();
    for (id, r) in t.resources() {
        let props = &r["Properties"];
        let (name, deployed) = match r["Type"].as_str() {
            Some("AWS::Serverless::Function") => {
                let globals = &t.doc["Globals"]["Function"];
                let mut merged = globals.as_object().cloned().unwrap_or_default();
                for (k, v) in props.as_object().cloned().unwrap_or_default() {
                    merged.insert(k, v);
                }
                let mut env: BTreeMap<String, Value> = BTreeMap::new();
                for vars in [&globals["Environment"]["Variables"], &props["Environment"]["Variables"]] {
                    if let Some(m) = vars.as_object() {
                        env.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                }
                let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().expect("Binary").to_owned();
                assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
                let statements = props["Policies"]
                    .as_array()
                    .expect("Policies")
                    .iter()
                    .flat_map(|p| p["Statement"].as_array().cloned().expect("inline statements only"))
                    .collect();
                let deployed = Deployed {
                    logical_id: id.clone(),
                    props: Value::Object(merged),
                    env,
                    statements,
                    managed_policies: vec![],
                };
                (binary, deployed)
            }
            Some("AWS::Lambda::Function") => {
                let Some(name) = tag(props, "simguard:function") else {
                    continue; // a CDK helper function, if any
                };
                let env = props["Environment"]["Variables"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let role = Template::target(&props["Role"]).expect("Role");
                let managed =
                    t.resources()[&role]["Properties"]["ManagedPolicyArns"].as_array().cloned().unwrap_or_default();
                let statements = t
                    .of_type("AWS::IAM::Policy")
                    .filter(|(_, p)| {
                        p["Properties"]["Roles"]
                            .as_array()
                            .is_some_and(|rs| rs.iter().any(|r| r["Ref"] == role.as_str()))
                    })
                    .flat_map(|(_, p)| {
                        p["Properties"]["PolicyDocument"]["Statement"].as_array().cloned().unwrap_or_default()
                    })
                    .collect();
                (
                    name,
                    Deployed {
                        logical_id: id.clone(),
                        props: props.clone(),
                        env,
                        statements,
                        managed_policies: managed,
                    },
                )
            }
            _ => continue,
        };
        if let Some(t) = tag(&deployed.props, "simguard:function") {
            assert_eq!(t, name, "{id}: tag and binary agree");
        }
        assert!(out.insert(function_by_name(&name), deployed).is_none(), "{name} defined twice");
    }
    out
}

fn routes(t: &Template) -> BTreeSet<(String, String, &'static str, bool)> {
    let fns: BTreeMap<String, Function> = functions(t).into_iter().map(|(f, d)| (d.logical_id, f)).collect();
    let mut out = BTreeSet::new();
    for (id, r) in t.of_type("AWS::ApiGatewayV2::Route") {
        let p = &r["Properties"];
        let key = p["RouteKey"].as_str().expect("RouteKey");
        let (method, path) = key.split_once(' ').expect("METHOD /path");
        let integration = Template::target(&p["Target"]).unwrap_or_else(|| panic!("{id}: Target"));
        let ip = &t.resources()[&integration]["Properties"];
        assert_eq!(ip["IntegrationType"], "AWS_PROXY", "{id}");
        assert_eq!(ip["PayloadFormatVersion"], "2.0", "{id}: payload format 2.0 (what lambda_http parses)");
        let function = Template::target(&ip["IntegrationUri"]).expect("IntegrationUri");
        let f = fns.get(&function).unwrap_or_else(|| panic!("{id}: {function} is not a simguard function"));
        // API Gateway may invoke it.
        assert!(
            t.of_type("AWS::Lambda::Permission").any(|(_, perm)| {
                let pp = &perm["Properties"];
                Template::target(&pp["FunctionName"]).as_deref() == Some(function.as_str())
                    && pp["Principal"] == "apigateway.amazonaws.com"
            }),
            "{}: no permission for API Gateway to invoke {function}",
            t.kind
        );
        // IAM-authorised, or open to API Gateway (the function checks what each route needs).
        let iam = match p.get("AuthorizationType").and_then(Value::as_str) {
            None | Some("NONE") => false,
            Some("AWS_IAM") => true,
            Some(other) => panic!("{id}: authorization {other}"),
        };
        out.insert((method.to_owned(), path.to_owned(), f.name(), iam));
    }
    out
}

fn route_table() -> BTreeSet<(String, String, &'static str, bool)> {
    ROUTES.iter().map(|r| (r.method.to_owned(), r.path.to_owned(), r.function.name(), r.iam)).collect()
}

/// A function's allowed actions, by resource ("table", "provider-secret"). Anything else fails.
fn allowed(t: &Template, d: &Deployed) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut out: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for s in &d.statements {
        assert_eq!(s["Effect"], "Allow", "{}: {}", t.kind, s);
        let actions: Vec<String> = match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a.iter().map(|a| a.as_str().expect("action").to_owned()).collect(),
            other => panic!("Action {other}"),
        };
        let resources = match &s["Resource"] {
            Value::Array(a) => a.clone(),
            one => vec![one.clone()],
        };
        for r in resources {
            // SES grants name the identity and the configuration set by ARN, never a pattern, and
            // allow sending only as the configured sender.
            if serde_json::to_string(&r["Fn::Sub"]).is_ok_and(|s| s.contains(":ses:")) {
                let arn = r["Fn::Sub"][0].as_str().or_else(|| r["Fn::Sub"].as_str()).unwrap_or_default();
                assert!(
                    !arn.contains('*')
                        && (arn.ends_with(":identity/${Identity}") || arn.contains(":configuration-set/${")),
                    "{}: {} may send through {arn}",
                    t.kind,
                    d.logical_id
                );
                assert!(
                    s["Condition"]["StringEquals"]["ses:FromAddress"].is_object(),
                    "{}: {} may send as any address of its identity: {s}",
                    t.kind,
                    d.logical_id
                );
                for a in &actions {
                    out.entry("ses").or_default().insert(a.clone());
                }
                continue;
            }
            let target = Template::target(&r).unwrap_or_else(|| panic!("{}: {} grants on {r}", t.kind, d.logical_id));
            let what = match t.resource_type(&target) {
                "AWS::DynamoDB::Table" => "table",
                "AWS::SecretsManager::Secret" if t.secret_role(&target) == "provider" => "provider-secret",
                "AWS::SQS::Queue" if !Resolver::new(t, "", "").is_dead_letter_queue(&target) => "notify-queue",
                other => panic!("{}: {} is granted access to {target} ({other})", t.kind, d.logical_id),
            };
            for a in &actions {
                assert!(!a.contains('*'), "{}: wildcard action {a} for {}", t.kind, d.logical_id);
                out.entry(what).or_default().insert(a.clone());
            }
        }
    }
    for m in &d.managed_policies {
        let arn = serde_json::to_string(m).unwrap_or_default();
        assert!(
            arn.contains("service-role/AWSLambdaBasicExecutionRole"),
            "{}: {} has managed policy {arn}",
            t.kind,
            d.logical_id
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Static checks

#[test]
fn routes_are_the_same_in_sam_cdk_and_the_route_table() {
    let table = route_table();
    assert_eq!(routes(sam()), table, "SAM template vs shared/src/routes.rs");
    assert_eq!(routes(cdk()), table, "CDK app vs shared/src/routes.rs");
}

#[test]
fn every_function_is_an_arm64_rust_function_with_its_own_log_group() {
    for t in [sam(), cdk()] {
        let fns = functions(t);
        assert_eq!(
            fns.keys().copied().collect::<BTreeSet<_>>(),
            Function::ALL.into_iter().collect::<BTreeSet<_>>(),
            "{}",
            t.kind
        );
        let r = Resolver::new(t, "table", "secret");
        for (f, d) in &fns {
            let p = &d.props;
            assert_eq!(p["Runtime"], "provided.al2023", "{} {}", t.kind, f.name());
            assert_eq!(p["Architectures"], json!(["arm64"]), "{} {}", t.kind, f.name());
            assert_eq!(p["Handler"], "bootstrap", "{} {}", t.kind, f.name());
            // The API's functions answer within API Gateway's limits; the consumer sends up to ten emails.
            // Cognito waits five seconds for a trigger.
            let timeout = match f {
                _ if f.serves_http() => 10,
                Function::CognitoAuth => 5,
                _ => 60,
            };
            assert_eq!(p["Timeout"], timeout, "{} {}", t.kind, f.name());
            let group = Template::target(&p["LoggingConfig"]["LogGroup"]).expect("LoggingConfig.LogGroup");
            let retention = &t.resources()[&group]["Properties"]["RetentionInDays"];
            assert!(
                r.resolve(retention).is_some_and(|d| d.parse::<u32>().is_ok_and(|d| d > 0)),
                "{}: retention",
                t.kind
            );
            // Only the function that sends SMS has reserved concurrency (docs/security.md F7).
            let reserved = p.get("ReservedConcurrentExecutions").and_then(|v| r.resolve(v));
            match f {
                Function::OtpStart => assert!(reserved.is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1))),
                _ => assert_eq!(reserved, None, "{} {}", t.kind, f.name()),
            }
        }
    }
}

#[test]
fn environment_is_what_each_function_reads() {
    let sam_env = resolved_env(&Resolver::new(sam(), "tbl", "provider"));
    let cdk_env = resolved_env(&Resolver::new(cdk(), "tbl", "provider"));
    assert_eq!(sam_env.keys().collect::<Vec<_>>(), cdk_env.keys().collect::<Vec<_>>());
    for (f, env) in &sam_env {
        assert_eq!(Some(env), cdk_env.get(f), "{}: SAM (left) and CDK (right) configure it alike", f.name());
    }
    for (t, envs) in [("SAM", &sam_env), ("CDK", &cdk_env)] {
        check_env(t, envs);
        check_defaults(t, envs);
    }
    // The SAM parameters that choose Twilio reach both OTP functions, and the Service SID with it.
    let twilio = Resolver::new(sam(), "tbl", "provider")
        .with("OtpProvider", "twilio")
        .with("TwilioServiceSid", "VA0123456789abcdef0123456789abcdef");
    let envs = resolved_env(&twilio);
    check_env("SAM (twilio)", &envs);
    for f in [Function::OtpStart, Function::OtpVerify] {
        let s = simguard::Settings::for_function(f, |k| envs[&f].get(k).cloned()).expect("valid");
        assert_eq!(s.otp.provider, simguard::config::OtpProviderKind::Twilio);
    }
}

fn resolved_env(r: &Resolver) -> BTreeMap<Function, BTreeMap<String, String>> {
    functions(r.t)
        .into_iter()
        .map(|(f, d)| (f, d.env.iter().filter_map(|(k, v)| r.resolve(v).map(|v| (k.clone(), v))).collect()))
        .collect()
}

/// The settings whose value a stack derives from its own resources (its domain, table, secret,
/// CloudFront, name); every other setting a stack gives is a parameter whose default must be the
/// declared default.
const SET_BY_THE_STACK: &[&str] = &[
    "SIMGUARD_PUBLIC_BASE_URL",
    "SIMGUARD_NOTIFY_QUEUE_URL",
    "SIMGUARD_SES_CONFIGURATION_SET",
    "SIMGUARD_MAIL_FROM",
    "SIMGUARD_TABLE_NAME",
    "SIMGUARD_SECRET_ID",
    "SIMGUARD_CLIENT_IP_SOURCE",
    "SIMGUARD_ORIGIN_VERIFY_TOKEN",
    "SIMGUARD_METRICS_NAMESPACE",
];

/// With its parameters at their defaults, a stack configures every setting as declared.
fn check_defaults(kind: &str, envs: &BTreeMap<Function, BTreeMap<String, String>>) {
    for (f, env) in envs {
        for (k, v) in env {
            if SET_BY_THE_STACK.contains(&k.as_str()) {
                continue;
            }
            let declared = simguard::config::SETTINGS.iter().find(|s| s.name == k).and_then(|s| s.default);
            assert_eq!(
                Some(v.as_str()),
                declared.or(Some("")),
                "{kind}: {} gets {k}={v:?} by default, but its declared default is {declared:?}",
                f.name()
            );
        }
    }
}

fn check_env(kind: &str, envs: &BTreeMap<Function, BTreeMap<String, String>>) {
    for (f, env) in envs {
        let reads = variables(*f);
        for k in env.keys() {
            assert!(reads.contains(&k.as_str()), "{kind}: {} gets {k}, which its code does not read", f.name());
        }
        for k in required_when_deployed(*f) {
            assert!(env.contains_key(k), "{kind}: {} lacks {k}", f.name());
        }
        // The configuration is valid as a whole: the function would start with it.
        simguard::Settings::for_function(*f, |k| env.get(k).cloned())
            .unwrap_or_else(|e| panic!("{kind}: {} would not start: {e}", f.name()));
    }
    // A setting given to one function is given, with the same value, to every function that reads
    // it (the SIM-change window of sim-check is the one of create-check and callback).
    for (f, env) in envs {
        for (k, v) in env {
            for (g, other) in envs {
                if variables(*g).contains(&k.as_str()) {
                    assert_eq!(
                        other.get(k),
                        Some(v),
                        "{kind}: {k} is set on {} but not alike on {}",
                        f.name(),
                        g.name()
                    );
                }
            }
        }
    }
    let common = &envs[&Function::Account];
    assert_eq!(
        common["SIMGUARD_PUBLIC_BASE_URL"],
        format!("https://{SITE_DOMAIN}"),
        "{kind}: the site is the CloudFront domain"
    );
    assert_eq!(common["SIMGUARD_CLIENT_IP_SOURCE"], "cloudfront", "{kind}");
    assert_eq!(common["SIMGUARD_ORIGIN_VERIFY_TOKEN"], ORIGIN_TOKEN, "{kind}");
}

#[test]
fn table_secret_and_outputs() {
    for t in [sam(), cdk()] {
        let r = Resolver::new(t, "tbl", "provider");
        let (_, table) = t.one_of_type("AWS::DynamoDB::Table");
        let p = &table["Properties"];
        assert_eq!(p["BillingMode"], "PAY_PER_REQUEST", "{}", t.kind);
        let mut keys: Vec<(String, String)> = p["KeySchema"]
            .as_array()
            .expect("KeySchema")
            .iter()
            .map(|k| {
                (k["AttributeName"].as_str().unwrap_or("").to_owned(), k["KeyType"].as_str().unwrap_or("").to_owned())
            })
            .collect();
        keys.sort();
        assert_eq!(keys, vec![(PARTITION_KEY.into(), "HASH".into()), (SORT_KEY.into(), "RANGE".into())], "{}", t.kind);
        assert_eq!(
            p["TimeToLiveSpecification"],
            json!({ "AttributeName": TTL_ATTRIBUTE, "Enabled": true }),
            "{}",
            t.kind
        );
        assert_eq!(p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true, "{}", t.kind);
        assert_eq!(table["DeletionPolicy"], "Retain", "{}: the users outlive the stack", t.kind);
        // A full bucket cannot be deleted: without Retain, deleting the stack fails half-way.
        let (_, site_bucket) = t.one_of_type("AWS::S3::Bucket");
        assert_eq!(site_bucket["DeletionPolicy"], "Retain", "{}: the site bucket", t.kind);

        // The provider secret starts with every documented key, and simguard can read it.
        let (_, secret) = t
            .of_type("AWS::SecretsManager::Secret")
            .find(|(id, _)| t.secret_role(id) == "provider")
            .expect("the provider secret");
        let g = &secret["Properties"]["GenerateSecretString"];
        let mut initial: serde_json::Map<String, Value> =
            serde_json::from_str(g["SecretStringTemplate"].as_str().expect("template")).expect("JSON");
        initial.insert(g["GenerateStringKey"].as_str().expect("key").to_owned(), json!("generated"));
        let mut keys: Vec<&str> = initial.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut documented = SECRET_KEYS.to_vec();
        documented.sort_unstable();
        assert_eq!(keys, documented, "{}", t.kind);
        parse_secret(&Value::Object(initial).to_string()).expect("the initial secret parses");

        let outputs = &t.doc["Outputs"];
        let url = |name: &str| r.string(&outputs[name]["Value"]);
        assert_eq!(url("SiteUrl"), format!("https://{SITE_DOMAIN}"), "{}", t.kind);
        assert_eq!(url("TruIdRedirectUrl"), format!("https://{SITE_DOMAIN}/api/reset/callback"), "{}", t.kind);
        assert!(url("ApiUrl").starts_with("https://api0123456.execute-api."), "{}", t.kind);
        let settings = simguard::Settings::for_function(Function::CreateCheck, |k| {
            (k == "SIMGUARD_PUBLIC_BASE_URL").then(|| url("SiteUrl"))
        })
        .expect("settings");
        assert_eq!(
            settings.truid_redirect_url(),
            url("TruIdRedirectUrl"),
            "{}: the redirect URL to set at tru.ID",
            t.kind
        );
    }
}

#[test]
fn the_site_and_the_api_share_one_cloudfront_origin() {
    for t in [sam(), cdk()] {
        let r = Resolver::new(t, "tbl", "provider");
        let (_, dist) = t.one_of_type("AWS::CloudFront::Distribution");
        let c = &dist["Properties"]["DistributionConfig"];
        let origin = |id: &str| -> &Value {
            c["Origins"]
                .as_array()
                .expect("Origins")
                .iter()
                .find(|o| o["Id"] == id)
                .unwrap_or_else(|| panic!("origin {id}"))
        };
        // The site: a private bucket through origin access control.
        let default = &c["DefaultCacheBehavior"];
        let site = origin(default["TargetOriginId"].as_str().expect("target"));
        assert!(site.get("OriginAccessControlId").is_some(), "{}: OAC", t.kind);
        let bucket = Template::target(&site["DomainName"]).expect("bucket");
        assert_eq!(t.resource_type(&bucket), "AWS::S3::Bucket");
        let bp = &t.resources()[&bucket]["Properties"]["PublicAccessBlockConfiguration"];
        for k in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
            assert_eq!(bp[k], true, "{}: {k}", t.kind);
        }
        assert!(
            t.of_type("AWS::S3::BucketPolicy").any(|(_, p)| {
                Template::target(&p["Properties"]["Bucket"]).as_deref() == Some(bucket.as_str())
                    && p["Properties"]["PolicyDocument"]["Statement"].as_array().is_some_and(|ss| {
                        ss.iter().any(|s| {
                            s["Principal"]["Service"] == "cloudfront.amazonaws.com"
                                && listed(&s["Action"]).contains(&json!("s3:GetObject"))
                        })
                    })
            }),
            "{}: only CloudFront reads the bucket",
            t.kind
        );
        assert_eq!(r.string(&default["ViewerProtocolPolicy"]), "redirect-to-https");

        // /api/* goes to the HTTP API, uncached, with what the functions read.
        let api = c["CacheBehaviors"]
            .as_array()
            .expect("CacheBehaviors")
            .iter()
            .find(|b| b["PathPattern"] == "/api/*")
            .expect("/api/*");
        let api_origin = origin(api["TargetOriginId"].as_str().expect("target"));
        assert_eq!(r.string(&api_origin["DomainName"]), "api0123456.execute-api.us-east-1.amazonaws.com", "{}", t.kind);
        assert_eq!(api["CachePolicyId"], "4135ea2d-6df8-44a3-9df3-4b5a84be39ad", "{}: CachingDisabled", t.kind);
        let policy = Template::target(&api["OriginRequestPolicyId"]).expect("origin request policy");
        let cf = cloudfront_emulation(t, &r);
        let mut forwarded: Vec<String> = cf.forwarded_headers.iter().map(|h| h.to_ascii_lowercase()).collect();
        forwarded.sort();
        assert_eq!(
            forwarded,
            simguard::site::API_REQUEST_HEADERS,
            "{}: {policy} forwards the headers the API reads",
            t.kind
        );
        assert!(!forwarded.iter().any(|h| h == "host" || h == "x-forwarded-for"), "{}", t.kind);
        let orp = &t.resources()[&policy]["Properties"]["OriginRequestPolicyConfig"];
        assert_eq!(orp["CookiesConfig"]["CookieBehavior"], "all", "{}", t.kind);
        assert_eq!(orp["QueryStringsConfig"]["QueryStringBehavior"], "all", "{}", t.kind);
        assert_eq!(
            cf.custom_headers,
            vec![("X-Simguard-Origin-Verify".to_owned(), ORIGIN_TOKEN.to_owned())],
            "{}",
            t.kind
        );

        // Security headers on every answer, the same as the local stack's.
        for behaviour in [default, api] {
            let id = Template::target(&behaviour["ResponseHeadersPolicyId"]).expect("response headers policy");
            let h = &t.resources()[&id]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"];
            assert_eq!(
                h["ContentSecurityPolicy"]["ContentSecurityPolicy"],
                simguard::site::CONTENT_SECURITY_POLICY,
                "{}",
                t.kind
            );
            assert_eq!(
                h["StrictTransportSecurity"]["AccessControlMaxAgeSec"],
                simguard::site::HSTS_MAX_AGE_SECS,
                "{}",
                t.kind
            );
            assert_eq!(h["StrictTransportSecurity"]["IncludeSubdomains"], true, "{}", t.kind);
            assert_eq!(h["ContentTypeOptions"]["Override"], true, "{}: nosniff", t.kind);
            assert_eq!(h["FrameOptions"]["FrameOption"], simguard::site::FRAME_OPTIONS, "{}", t.kind);
            assert_eq!(h["ReferrerPolicy"]["ReferrerPolicy"], simguard::site::REFERRER_POLICY, "{}", t.kind);
        }
    }
}

/// A policy statement's `Action` or `Resource`: one, or a list.
fn listed(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        one => vec![one.clone()],
    }
}

/// What the template's CloudFront does to `/api/*` requests.
fn cloudfront_emulation(t: &Template, r: &Resolver) -> CloudFront {
    let (_, dist) = t.one_of_type("AWS::CloudFront::Distribution");
    let c = &dist["Properties"]["DistributionConfig"];
    let api = c["CacheBehaviors"]
        .as_array()
        .expect("behaviours")
        .iter()
        .find(|b| b["PathPattern"] == "/api/*")
        .expect("/api/*");
    let origin = c["Origins"]
        .as_array()
        .expect("origins")
        .iter()
        .find(|o| o["Id"] == api["TargetOriginId"])
        .expect("api origin");
    let policy = Template::target(&api["OriginRequestPolicyId"]).expect("policy");
    let headers = &t.resources()[&policy]["Properties"]["OriginRequestPolicyConfig"]["HeadersConfig"];
    assert_eq!(headers["HeaderBehavior"], "whitelist", "{}", t.kind);
    CloudFront {
        forwarded_headers: headers["Headers"].as_array().expect("Headers").iter().map(|h| r.string(h)).collect(),
        custom_headers: origin["OriginCustomHeaders"]
            .as_array()
            .map(|hs| hs.iter().map(|h| (r.string(&h["HeaderName"]), r.string(&h["HeaderValue"]))).collect())
            .unwrap_or_default(),
    }
}

#[test]
fn api_stage_throttles_and_logs_no_query_strings() {
    for t in [sam(), cdk()] {
        let r = Resolver::new(t, "tbl", "provider");
        let (_, stage) = t.one_of_type("AWS::ApiGatewayV2::Stage");
        let p = &stage["Properties"];
        assert_eq!(p["StageName"], "$default", "{}", t.kind);
        let rate = |v: &Value| r.string(v).parse::<f64>().expect("a number");
        let default_rate = rate(&p["DefaultRouteSettings"]["ThrottlingRateLimit"]);
        let otp = &p["RouteSettings"]["POST /api/otp/start"];
        assert!(rate(&otp["ThrottlingRateLimit"]) < default_rate, "{}: the SMS route is throttled harder", t.kind);
        // The access log: fixed fields, none of them the query string (the callback's carries the
        // tru.ID code) or a header.
        let format: serde_json::Map<String, Value> =
            serde_json::from_str(&r.string(&p["AccessLogSettings"]["Format"])).expect("a JSON access log format");
        let allowed = [
            "requestId",
            "requestTime",
            "routeKey",
            "status",
            "responseLength",
            "responseLatency",
            "integrationStatus",
            "integrationErrorMessage",
        ];
        for v in format.values() {
            let var = v.as_str().and_then(|s| s.strip_prefix("$context.")).expect("a $context variable");
            assert!(allowed.contains(&var), "{}: access log field $context.{var}", t.kind);
        }
        assert!(Template::target(&p["AccessLogSettings"]["DestinationArn"]).is_some());
    }
    // And both log the same fields.
    let format = |t: &Template| {
        let (_, s) = t.one_of_type("AWS::ApiGatewayV2::Stage");
        s["Properties"]["AccessLogSettings"]["Format"].clone()
    };
    assert_eq!(format(sam()), format(cdk()));
}

#[test]
fn alarms_watch_metrics_the_functions_emit() {
    for t in [sam(), cdk()] {
        let r = Resolver::new(t, "tbl", "provider");
        let namespace = format!("simguard/{STACK}");
        // Metrics the stack counts from log events: each filter matches an event a function logs.
        let mut from_logs = BTreeMap::new();
        for (id, f) in t.of_type("AWS::Logs::MetricFilter") {
            let p = &f["Properties"];
            let pattern = p["FilterPattern"].as_str().unwrap_or_default().to_owned();
            let event = pattern
                .strip_prefix("{ $.fields.event = \"")
                .and_then(|rest| rest.strip_suffix("\" }"))
                .unwrap_or_else(|| panic!("{}: {id} matches something else than one log event: {pattern}", t.kind));
            assert!(
                crate::documents::logged_events().contains(event),
                "{}: {id} counts {event}, which no function logs",
                t.kind
            );
            for m in p["MetricTransformations"].as_array().cloned().unwrap_or_default() {
                assert_eq!(r.string(&m["MetricNamespace"]), namespace, "{}: {id}", t.kind);
                from_logs.insert(r.string(&m["MetricName"]), event.to_owned());
            }
        }
        let mut watched = BTreeSet::new();
        let mut per_function = BTreeSet::new();
        for (id, a) in t.of_type("AWS::CloudWatch::Alarm") {
            let p = &a["Properties"];
            assert!(p["AlarmActions"].as_array().is_some_and(|a| !a.is_empty()), "{}: {id} notifies", t.kind);
            let mut metrics = vec![];
            if p.get("MetricName").is_some() {
                metrics.push((r.string(&p["Namespace"]), r.string(&p["MetricName"])));
            }
            for m in p["Metrics"].as_array().cloned().unwrap_or_default() {
                if let Some(stat) = m.get("MetricStat") {
                    metrics.push((r.string(&stat["Metric"]["Namespace"]), r.string(&stat["Metric"]["MetricName"])));
                }
            }
            for m in p["Metrics"].as_array().cloned().unwrap_or_default() {
                let metric = &m["MetricStat"]["Metric"];
                if metric["Namespace"] == "AWS/Lambda" {
                    for d in metric["Dimensions"].as_array().cloned().unwrap_or_default() {
                        let function = r.string(&d["Value"]);
                        per_function.insert((function, r.string(&metric["MetricName"])));
                    }
                }
            }
            if p["Namespace"] == "AWS/SQS" {
                for d in p["Dimensions"].as_array().cloned().unwrap_or_default() {
                    watched.insert(format!("queue:{}", r.string(&d["Value"])));
                }
            }
            for (ns, name) in metrics {
                if ns.starts_with("AWS/") {
                    watched.insert(format!("{ns}:{name}"));
                    continue;
                }
                assert_eq!(ns, namespace, "{}: {id}", t.kind);
                assert!(
                    Metric::NAMES.contains(&name.as_str()) || from_logs.contains_key(&name),
                    "{}: {id} watches {name}, which no function emits",
                    t.kind
                );
                watched.insert(name);
            }
        }
        for name in [
            "ProviderError",
            "SmsSent",
            "OtpVerified",
            "SimChangeBlocked",
            "SimCheckUnavailableAllowed",
            "AWS/Lambda:Throttles",
            "AWS/ApiGateway:5xx",
            "AWS/DynamoDB:ReadThrottleEvents",
            "AWS/DynamoDB:WriteThrottleEvents",
            "AWS/DynamoDB:SystemErrors",
            "AWS/SES:Reputation.BounceRate",
            "AWS/SES:Reputation.ComplaintRate",
            "queue:simguard-notify-dlq",
        ] {
            assert!(watched.contains(name), "{}: no alarm on {name}", t.kind);
        }
        // Every function's errors and throttles.
        for f in Function::ALL {
            for metric in ["Errors", "Throttles"] {
                let key = (format!("fn-{}", f.name()), metric.to_owned());
                assert!(per_function.contains(&key), "{}: no alarm on {}'s {metric}", t.kind, f.name());
            }
        }
        // The functions publish to the namespace the alarms read.
        let env = resolved_env(&r);
        assert!(env.values().all(|e| e["SIMGUARD_METRICS_NAMESPACE"] == namespace), "{}", t.kind);
    }
}

/// The site's behaviour runs one viewer-request function, the same code in both stacks (run here
/// with node, as CloudFront would): with a custom domain, a page asked for under the distribution's
/// own name goes to the domain; a folder's address is its `index.html` (the hosted verification
/// page's `/verify/`, which S3's REST endpoint would not find), with or without a domain.
#[test]
fn a_custom_domain_is_where_every_page_is_served() {
    const DOMAIN: &str = "www.example.com";
    const CERT: &str = "arn:aws:acm:us-east-1:123456789012:certificate/0123abcd";
    let code_of = |t: &Template, r: &Resolver| -> String {
        let (id, f) = t.one_of_type("AWS::CloudFront::Function");
        assert!(f.get("Condition").is_none(), "{}: {id} is always there", t.kind);
        assert_eq!(f["Properties"]["FunctionConfig"]["Runtime"], "cloudfront-js-2.0", "{}: {id}", t.kind);
        let (_, d) = t.one_of_type("AWS::CloudFront::Distribution");
        let associations = &d["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]["FunctionAssociations"];
        assert_eq!(associations.as_array().map(Vec::len), Some(1), "{}: {associations}", t.kind);
        assert_eq!(associations[0]["EventType"], "viewer-request", "{}: {associations}", t.kind);
        let target = Template::target(&associations[0]["FunctionARN"]).expect("the function");
        assert_eq!(&target, id, "{}: the site's behaviour runs it", t.kind);
        r.string(&f["Properties"]["FunctionCode"])
    };
    let run = |code: &str| -> Value {
        // cloudfront-js-2.0 is ECMAScript 5.1 with parts of ES6.
        let script = format!(
            r#"{code}
const seen = [];
const ask = (host, uri, querystring) => handler({{ request: {{ uri, querystring, headers: host ? {{ host: {{ value: host }} }} : {{}} }} }});
seen.push(ask('d111111abcdef8.cloudfront.net', '/forgot.html', {{ r: {{ value: 'sim_changed' }}, flow: {{ value: 'login', multiValue: [{{ value: 'login' }}, {{ value: 'reset' }}] }} }}));
seen.push(ask('{DOMAIN}', '/forgot.html', {{}}));
seen.push(ask(null, '/', {{}}));
seen.push(ask('{DOMAIN}', '/verify/', {{}}));
seen.push(ask('d111111abcdef8.cloudfront.net', '/verify/', {{}}));
process.stdout.write(JSON.stringify(seen));"#
        );
        let out = std::process::Command::new("node").args(["-e", &script]).output().expect("node");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    // Without a custom domain: every host is served; a folder is its index.html.
    let plain = [
        code_of(sam(), &Resolver::new(sam(), "tbl", "provider")),
        code_of(cdk(), &Resolver::new(cdk(), "tbl", "provider")),
    ];
    assert_eq!(plain[0], plain[1], "SAM (left) and CDK (right) run the same function");
    let seen = run(&plain[0]);
    assert_eq!(seen[0]["uri"], "/forgot.html");
    assert_eq!(seen[2]["uri"], "/index.html");
    assert_eq!(seen[4]["uri"], "/verify/index.html");
    // With one: the same code in both.
    let sam_code = code_of(
        sam(),
        &Resolver::new(sam(), "tbl", "provider").with("SiteDomainName", DOMAIN).with("SiteCertificateArn", CERT),
    );
    let custom = cdk_with(&[("siteDomainName", DOMAIN), ("siteCertificateArn", CERT)]);
    let cdk_code = code_of(&custom, &Resolver::new(&custom, "tbl", "provider"));
    assert_eq!(sam_code, cdk_code, "SAM (left) and CDK (right) run the same function");
    // A domain without its certificate is no custom domain (SAM's condition; CDK refuses it).
    let half = code_of(sam(), &Resolver::new(sam(), "tbl", "provider").with("SiteDomainName", DOMAIN));
    assert_eq!(half, plain[0]);
    let seen = run(&sam_code);
    assert_eq!(seen[0]["statusCode"], 301);
    assert_eq!(
        seen[0]["headers"]["location"]["value"],
        format!("https://{DOMAIN}/forgot.html?r=sim_changed&flow=login&flow=reset")
    );
    assert_eq!(seen[1]["uri"], "/forgot.html", "the domain itself is served");
    assert_eq!(seen[2]["headers"]["location"]["value"], format!("https://{DOMAIN}/"));
    assert_eq!(seen[3]["uri"], "/verify/index.html");
    assert_eq!(seen[4]["headers"]["location"]["value"], format!("https://{DOMAIN}/verify/"));
}

/// A page that is not there is the site's own "Page not found", as a 404, in both stacks: CloudFront
/// may list the bucket (so S3 answers 404, not 403, for a missing object) and turns a 404 into
/// `/404.html`. Every folder address the API or the pages send a browser to has its `index.html`.
#[test]
fn a_missing_page_is_the_sites_not_found_page() {
    let site = repo().join("static-site/public");
    assert!(site.join("404.html").is_file());
    for t in [sam(), cdk()] {
        let r = Resolver::new(t, "tbl", "provider");
        let (_, d) = t.one_of_type("AWS::CloudFront::Distribution");
        let c = &d["Properties"]["DistributionConfig"];
        let errors = c["CustomErrorResponses"].as_array().cloned().unwrap_or_default();
        assert_eq!(errors.len(), 1, "{}: {errors:?}", t.kind);
        assert_eq!(r.string(&errors[0]["ErrorCode"]), "404", "{}", t.kind);
        assert_eq!(r.string(&errors[0]["ResponseCode"]), "404", "{}", t.kind);
        assert_eq!(r.string(&errors[0]["ResponsePagePath"]), "/404.html", "{}", t.kind);
        assert_eq!(r.string(&errors[0]["ErrorCachingMinTTL"]), "60", "{}: a new page shows within a minute", t.kind);
        let site_origin = c["DefaultCacheBehavior"]["TargetOriginId"].clone();
        let origin = c["Origins"].as_array().expect("origins").iter().find(|o| o["Id"] == site_origin).expect("site");
        let bucket = Template::target(&origin["DomainName"]).expect("bucket");
        let lists = t.of_type("AWS::S3::BucketPolicy").any(|(_, p)| {
            Template::target(&p["Properties"]["Bucket"]).as_deref() == Some(bucket.as_str())
                && p["Properties"]["PolicyDocument"]["Statement"].as_array().is_some_and(|ss| {
                    ss.iter().any(|s| {
                        s["Effect"] == "Allow"
                            && s["Principal"]["Service"] == "cloudfront.amazonaws.com"
                            && listed(&s["Action"]).contains(&json!("s3:ListBucket"))
                            && listed(&s["Resource"]).iter().any(|r| {
                                r.get("Fn::GetAtt").is_some() && Template::target(r).as_deref() == Some(bucket.as_str())
                            })
                            && serde_json::to_string(&s["Condition"]).is_ok_and(|c| c.contains("AWS:SourceArn"))
                    })
                })
        });
        assert!(lists, "{}: only this distribution may list the bucket", t.kind);
    }
    // Every folder address in the functions' and the pages' code (`"/verify/#…"`, `'/verify/?r=…'`)
    // is a folder of the site with an index.html.
    let mut folders = BTreeSet::new();
    let mut files = vec![];
    for dir in ["shared/src", "shared/src/http", "static-site/public", "static-site/public/js"] {
        for entry in std::fs::read_dir(repo().join(dir)).expect("dir").flatten() {
            files.push(entry.path());
        }
    }
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "rs" || e == "js" || e == "html")) {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (i, quote) in text.char_indices().filter(|(_, c)| matches!(c, '"' | '\'' | '`')) {
            let rest = &text[i + quote.len_utf8()..];
            let len = rest.find(|c: char| !(c.is_ascii_lowercase() || c == '/' || c == '-')).unwrap_or(rest.len());
            let (path, after) = rest.split_at(len);
            let folder = path.len() > 1 && path.starts_with('/') && path.ends_with('/') && !path.contains("//");
            if folder && !path.starts_with("/api/") && after.starts_with(['#', '?', '"', '\'', '`']) {
                folders.insert(path.to_owned());
            }
        }
    }
    assert!(folders.contains("/verify/"), "the scan finds the hosted page's address: {folders:?}");
    for folder in &folders {
        assert!(site.join(&folder[1..]).join("index.html").is_file(), "{folder} has no index.html");
    }
}

/// `scripts/deploy-site` reads the stack's outputs and parameters by name: both stacks have them.
#[test]
fn what_deploy_site_reads_is_in_both_stacks() {
    let script = std::fs::read_to_string(repo().join("scripts/deploy-site")).expect("scripts/deploy-site");
    for t in [sam(), cdk()] {
        for output in ["SiteBucketName", "DistributionId", "SiteUrl", "SimChangeWindowMinutes"] {
            assert!(script.contains(&format!("output {output}")), "deploy-site reads {output}");
            assert!(t.doc["Outputs"].get(output).is_some(), "{}: no output {output}", t.kind);
        }
        for parameter in ["SiteName", "SupportContact"] {
            assert!(script.contains(&format!("parameter {parameter}")), "deploy-site reads {parameter}");
            assert!(t.doc["Parameters"].get(parameter).is_some(), "{}: no parameter {parameter}", t.kind);
        }
    }
}

/// The alarms and the dashboard are the same in both templates (resources resolved, whatever their
/// logical ids), and the dashboard shows only metrics that exist.
#[test]
fn alarms_and_dashboard_are_the_same_in_sam_and_cdk() {
    let alarms = |t: &Template| -> BTreeSet<String> {
        let r = Resolver::new(t, "tbl", "provider");
        t.of_type("AWS::CloudWatch::Alarm")
            .map(|(id, a)| {
                let mut p = r.resolve_deep(&a["Properties"]);
                for actions in ["AlarmActions", "OKActions"] {
                    assert_eq!(p[actions], json!(["alarm-topic"]), "{}: {id} {actions}", t.kind);
                    p.as_object_mut().map(|o| o.remove(actions));
                }
                serde_json::to_string_pretty(&p).unwrap_or_default()
            })
            .collect()
    };
    let (sam_alarms, cdk_alarms) = (alarms(sam()), alarms(cdk()));
    let only_sam: Vec<_> = sam_alarms.difference(&cdk_alarms).collect();
    let only_cdk: Vec<_> = cdk_alarms.difference(&sam_alarms).collect();
    assert!(
        only_sam.is_empty() && only_cdk.is_empty(),
        "alarms only in SAM: {only_sam:#?}\nonly in CDK: {only_cdk:#?}"
    );

    let dashboard = |t: &Template| {
        let r = Resolver::new(t, "tbl", "provider");
        let (_, d) = t.one_of_type("AWS::CloudWatch::Dashboard");
        let body: Value = serde_json::from_str(&r.string(&d["Properties"]["DashboardBody"])).expect("the body is JSON");
        (r.string(&d["Properties"]["DashboardName"]), body)
    };
    let (name, body) = dashboard(sam());
    assert_eq!((name.clone(), body.clone()), dashboard(cdk()), "SAM (left) and CDK (right) dashboards");
    assert_eq!(name, format!("{STACK}-simguard"));
    // Each widget's metrics are ours (or AWS's): a name in the dashboard that nothing emits is a
    // graph that stays empty.
    let text = body.to_string();
    let namespace = format!("simguard/{STACK}");
    let mut shown = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        for m in widget["properties"]["metrics"].as_array().expect("metrics") {
            let row = m.as_array().expect("a metric row");
            if let Some(expr) = row[0]["expression"].as_str() {
                let name = expr.split("MetricName=\"").nth(1).and_then(|r| r.split('"').next()).expect("a name");
                assert!(expr.contains(&format!("{{{namespace},")), "{expr}");
                shown.insert(name.to_owned());
            } else if row[0] == namespace.as_str() {
                shown.insert(row[1].as_str().expect("name").to_owned());
            } else {
                assert!(row[0].as_str().is_some_and(|ns| ns.starts_with("AWS/")), "{m}");
            }
        }
    }
    for name in &shown {
        assert!(
            Metric::NAMES.contains(&name.as_str()) || name == "SimCheckUnavailableAllowed",
            "the dashboard shows {name}, which nothing emits"
        );
    }
    for name in ["StepOutcome", "SmsSent", "OtpVerified", "SimChangeBlocked", "ProviderError", "ProviderLatency"] {
        assert!(shown.contains(name), "the dashboard does not show {name}");
    }
    for name in ["RateLimited", "Notification"] {
        assert!(shown.contains(name), "the dashboard does not show {name}");
    }
    assert!(text.contains("simguard-notify-dlq") && text.contains("\"simguard-notify\""), "the queue's backlog");
}

// ---------------------------------------------------------------------------------------------
// What each function calls, measured

/// Records each AWS call a client makes as the IAM action(s) it needs and the resource it names, and
/// how many times each action was called.
#[derive(Debug, Clone, Default)]
struct Calls(Arc<Mutex<BTreeSet<(String, String)>>>, Arc<Mutex<BTreeMap<String, usize>>>);

impl Calls {
    fn add(&self, action: &str, resource: &str) {
        if let Ok(mut c) = self.0.lock() {
            c.insert((action.to_owned(), resource.to_owned()));
        }
        if let Ok(mut n) = self.1.lock() {
            *n.entry(action.to_owned()).or_default() += 1;
        }
    }
    fn times(&self, action: &str) -> usize {
        self.1.lock().map(|n| n.get(action).copied().unwrap_or(0)).unwrap_or(0)
    }
    fn all(&self) -> BTreeSet<(String, String)> {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "simguard-test-record-calls"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation as ddb;
        let input = context.input();
        let opt = |s: Option<&str>| s.unwrap_or_default().to_owned();
        if let Some(i) = input.downcast_ref::<ddb::get_item::GetItemInput>() {
            self.add("dynamodb:GetItem", &opt(i.table_name()));
        } else if let Some(i) = input.downcast_ref::<ddb::put_item::PutItemInput>() {
            self.add("dynamodb:PutItem", &opt(i.table_name()));
        } else if let Some(i) = input.downcast_ref::<ddb::update_item::UpdateItemInput>() {
            self.add("dynamodb:UpdateItem", &opt(i.table_name()));
        } else if let Some(i) = input.downcast_ref::<ddb::delete_item::DeleteItemInput>() {
            self.add("dynamodb:DeleteItem", &opt(i.table_name()));
        } else if let Some(i) = input.downcast_ref::<ddb::query::QueryInput>() {
            self.add("dynamodb:Query", &opt(i.table_name()));
        } else if let Some(i) = input.downcast_ref::<ddb::transact_write_items::TransactWriteItemsInput>() {
            // IAM has no TransactWriteItems action: each item needs its own.
            for item in i.transact_items() {
                if let Some(p) = item.put() {
                    self.add("dynamodb:PutItem", p.table_name());
                }
                if let Some(u) = item.update() {
                    self.add("dynamodb:UpdateItem", u.table_name());
                }
                if let Some(d) = item.delete() {
                    self.add("dynamodb:DeleteItem", d.table_name());
                }
                if let Some(c) = item.condition_check() {
                    self.add("dynamodb:ConditionCheckItem", c.table_name());
                }
            }
        } else if let Some(i) =
            input.downcast_ref::<aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueInput>()
        {
            self.add("secretsmanager:GetSecretValue", &opt(i.secret_id()));
        } else if let Some(i) = input.downcast_ref::<aws_sdk_sqs::operation::send_message::SendMessageInput>() {
            self.add("sqs:SendMessage", &opt(i.queue_url()));
        } else if let Some(i) = input.downcast_ref::<aws_sdk_sqs::operation::receive_message::ReceiveMessageInput>() {
            self.add("sqs:ReceiveMessage", &opt(i.queue_url()));
        } else if let Some(i) = input.downcast_ref::<aws_sdk_sqs::operation::delete_message::DeleteMessageInput>() {
            self.add("sqs:DeleteMessage", &opt(i.queue_url()));
        } else if let Some(i) =
            input.downcast_ref::<aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesInput>()
        {
            self.add("sqs:GetQueueAttributes", &opt(i.queue_url()));
        } else if let Some(i) = input.downcast_ref::<aws_sdk_sesv2::operation::send_email::SendEmailInput>() {
            self.add("ses:SendEmail", &opt(i.from_email_address()));
        } else {
            self.add(&format!("unrecognised {input:?}"), "");
        }
        Ok(())
    }
}

#[tokio::test]
async fn sam_iam_is_what_each_function_calls() {
    iam_is_what_each_function_calls(sam()).await;
}

#[tokio::test]
async fn cdk_iam_is_what_each_function_calls() {
    iam_is_what_each_function_calls(cdk()).await;
}

async fn iam_is_what_each_function_calls(t: &'static Template) {
    let aws = crate::support::moto::aws_config().await;
    let (client, table) = crate::support::moto::fresh_table().await;
    let secret = format!("{table}-providers");
    let sandbox = sandbox_config();
    let defaults = simguard_sandbox::SandboxConfig::default();
    aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name(&secret)
        .secret_string(
            json!({
                "truid_client_id": sandbox.client_id,
                "truid_client_secret": sandbox.client_secret,
                "vonage_api_key": defaults.vonage.api_key,
                "vonage_api_secret": defaults.vonage.api_secret,
                "twilio_account_sid": defaults.twilio.account_sid,
                "twilio_auth_token": defaults.twilio.auth_token,
                "password_pepper": "a pepper the test put in the secret",
                "result_signing_keys": simguard_sandbox::SANDBOX_RESULT_SIGNING_KEYS,
            })
            .to_string(),
        )
        .send()
        .await
        .expect("create the provider secret in moto");

    // The notification queue and the sender's identity, as the stack and its owner set them up.
    let queue_url = aws_sdk_sqs::Client::new(&aws)
        .create_queue()
        .queue_name(format!("{table}-notify"))
        .send()
        .await
        .expect("create the queue in moto")
        .queue_url
        .expect("its URL");
    aws_sdk_sesv2::Client::new(&aws)
        .create_email_identity()
        .email_identity("example.com")
        .send()
        .await
        .expect("verify the sender's domain in moto");

    let resolver = Resolver::new(t, &table, &secret).with_queue(&queue_url);
    let env = resolved_env(&resolver);
    let mut calls = BTreeMap::new();
    let mut clients = BTreeMap::new();
    for f in Function::ALL {
        let rec = Calls::default();
        let ddb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&aws).interceptor(rec.clone()).build(),
        );
        let sm = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&aws).interceptor(rec.clone()).build(),
        );
        let sqs =
            aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&aws).interceptor(rec.clone()).build());
        let ses = aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(&aws).interceptor(rec.clone()).build(),
        );
        clients.insert(f, AwsClients { dynamodb: ddb, secrets_manager: sm, sqs, ses });
        calls.insert(f, rec);
    }
    let deployment = Deployment { env, clients, cloudfront: Some(cloudfront_emulation(t, &resolver)) };
    let env = Env::builder().store_on(client, table.clone()).deployed(deployment).start().await;
    every_flow(&env).await;

    // The notifications the flows queued, sent as Lambda's event source mapping would feed the
    // consumer: each one emailed, none handed back, the queue empty.
    let consumer = env.consumer.as_ref().expect("the notify function is deployed");
    assert_eq!(consumer.drain().await, 0, "{}: no notification handed back", t.kind);
    let mail: Vec<Value> = crate::support::moto::sent_mail()
        .await
        .into_iter()
        .filter(|m| m["to"].to_string().contains("alice@example.com"))
        .collect();
    assert!(
        mail.iter().any(|m| m["subject"].as_str().is_some_and(|s| s.contains("password"))),
        "{}: Alice was told her password changed: {mail:?}",
        t.kind
    );
    assert!(mail.iter().all(|m| m["from"] == "\"simguard\" <notices@example.com>"), "{}: {mail:?}", t.kind);

    for (f, d) in functions(t) {
        let granted = allowed(t, &d);
        let made = calls[&f].all();
        let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (action, resource) in &made {
            let what = match action.split(':').next() {
                Some("dynamodb") => {
                    assert_eq!(resource, &table, "{}: {} used another table", t.kind, f.name());
                    "table"
                }
                Some("sqs") => {
                    assert_eq!(resource, &queue_url, "{}: {} used another queue", t.kind, f.name());
                    "notify-queue"
                }
                Some("ses") => {
                    assert!(resource.ends_with("<notices@example.com>"), "{}: {} sent as {resource}", t.kind, f.name());
                    "ses"
                }
                Some("secretsmanager") => {
                    assert_eq!(resource, &secret, "{}: {} read another secret", t.kind, f.name());
                    "provider-secret"
                }
                _ => panic!("{}: {} made a call no policy covers: {action}", t.kind, f.name()),
            };
            used.entry(what).or_default().insert(action.clone());
        }
        assert_eq!(granted, used, "{}: {}'s policy (left) vs the calls its code made (right)", t.kind, f.name());
        // Every flow ran within one secret TTL: each execution environment read the secret once at
        // most (docs/security.md R11).
        let reads = calls[&f].times("secretsmanager:GetSecretValue");
        assert!(reads <= 1, "{}: {} read the secret {reads} times", t.kind, f.name());
    }
    // The functions that call a provider did read it.
    for f in [Function::Coverage, Function::CreateCheck, Function::Callback, Function::OtpStart] {
        assert_eq!(calls[&f].times("secretsmanager:GetSecretValue"), 1, "{}: {}", t.kind, f.name());
    }
}

/// Every flow, through every function: registration and login 2FA, the silent reset, the SMS
/// reset with a wrong code first, a SIM-changed user stopped on both paths, sign-out.
async fn every_flow(env: &Env) {
    env.user("alice@example.com", "+447000000070").await;
    env.user("bob@example.com", "+447000000070").await;
    env.user("sam@example.com", "+447000000008").await;
    env.user("sue@example.com", "+447000000008").await;
    env.user("dave@example.com", "+447000000072").await;
    // Alice and Sam are on mobile data; Bob is not (the sandbox covers listed addresses only).
    for ip in ["198.51.100.21", "198.51.100.22"] {
        env.sandbox.truid().set_coverage(ip.parse().expect("ip"), simguard_sandbox::CoverageRule::Covered);
    }

    // Any request that goes around CloudFront is refused, by every function.
    for route in ROUTES {
        let mut e = Event::new(route.method, route.path);
        if route.method == "POST" {
            e = Event::post(route.path, json!({}));
        }
        let r = env.send_direct(&e).await;
        assert_eq!(
            (r.status, r.problem_type()),
            (403, Some("urn:simguard:problem:origin_rejected".into())),
            "{} {} without CloudFront",
            route.method,
            route.path
        );
    }

    // Registration, login with both factors, the protected page, sign-out.
    let mut carol = Browser::at("198.51.100.20");
    let r = carol
        .send(
            env,
            Event::post(
                "/api/register",
                json!({ "email": "carol@example.com", "phone": "+447000000070", "password": PASSWORD }),
            ),
        )
        .await;
    assert!(r.status < 300, "register: {}", r.text());
    let wrong = carol.login(env, "carol@example.com", "not the right passphrase").await;
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    let csrf = carol.sign_in(env, "carol@example.com", PASSWORD, "+447000000070").await;
    assert_eq!(carol.send(env, Event::get("/api/me")).await.status, 200);
    let out = carol.send(env, Event::post("/api/logout", json!({})).csrf(&csrf)).await;
    assert!(out.status < 300, "logout: {}", out.text());
    assert_eq!(carol.send(env, Event::get("/api/me")).await.status, 401);
    // A second factor that fails every try: the sign-in is stopped and Carol is told.
    let login = carol.login(env, "carol@example.com", PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(carol.sim_check(env, &csrf).await.json(), json!({ "next": "otp" }));
    assert_eq!(carol.otp_start(env, &csrf).await.json(), json!({ "status": "sent", "to_ending": "70" }));
    let code = env.last_code("+447000000070");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut last = 0;
    for _ in 0..6 {
        last = carol.otp_verify(env, &csrf, wrong).await.status;
    }
    assert!(last >= 400, "the wrong code is refused to the end: {last}");
    // A remembered browser: one code, with "remember"; its next sign-in needs only the SIM check;
    // the account lists it and forgets it.
    let mut dave = Browser::at("198.51.100.26");
    let login = dave.login(env, "dave@example.com", PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(dave.sim_check(env, &csrf).await.json(), json!({ "next": "otp" }));
    assert_eq!(dave.otp_start(env, &csrf).await.status, 200);
    let code = env.last_code("+447000000072");
    let remember = Event::post("/api/otp/verify", json!({ "code": code, "remember": true })).csrf(&csrf);
    let done = dave.send(env, remember).await;
    assert_eq!(done.json()["next"], "signed_in", "{}", done.text());
    let session = done.json()["csrf"].as_str().expect("csrf").to_owned();
    assert!(dave.send(env, Event::post("/api/logout", json!({})).csrf(&session)).await.status < 300);
    let login = dave.login(env, "dave@example.com", PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    let quick = dave.sim_check(env, &csrf).await;
    assert_eq!(quick.json()["next"], "signed_in", "{}", quick.text());
    let session = quick.json()["csrf"].as_str().expect("csrf").to_owned();
    let listed = dave.send(env, Event::get("/api/devices")).await;
    let id = listed.json()["devices"][0]["id"].as_str().expect("a remembered browser").to_owned();
    let forget = Event::post("/api/devices/forget", json!({ "id": id })).csrf(&session);
    assert_eq!(dave.send(env, forget).await.status, 204);
    // Dave moves to a new number: the password again, then the SIM check and a code for each number.
    let change = json!({ "current_password": PASSWORD, "new_phone": "+447700900124" });
    let started = dave.send(env, Event::post("/api/phone/change", change).csrf(&session)).await;
    let csrf = started.json()["csrf"].as_str().map(str::to_owned).unwrap_or_else(|| panic!("{}", started.text()));
    let current = dave.second_factor(env, &csrf, "+447000000072").await;
    assert_eq!(current.json()["next"], "new_number", "{}", current.text());
    let moved = dave.second_factor(env, &csrf, "+447700900124").await;
    assert_eq!(moved.json()["next"], "phone_changed", "{}", moved.text());
    // Someone registers with Alice's address: told apart from nothing, and Alice is told.
    let taken = Browser::at("198.51.100.24")
        .send(
            env,
            Event::post(
                "/api/register",
                json!({ "email": "alice@example.com", "phone": "+447000000070", "password": PASSWORD }),
            ),
        )
        .await;
    assert!(taken.status < 300, "register a taken address: {}", taken.text());

    // The silent reset: coverage (twice: the second is cached), SubscriberCheck, new password.
    let mut alice = Browser::at("198.51.100.21");
    for _ in 0..2 {
        let c = alice.send(env, Event::get("/api/coverage")).await;
        assert_eq!(c.json(), json!({ "silent": true }), "{}", c.text());
    }
    let (csrf, cb) = alice.silent_reset(env, "alice@example.com").await;
    assert_eq!(cb.status, 303, "{}", cb.text());
    let done = alice.set_password(env, &csrf, "a brand new passphrase 41").await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(env.password_works("alice@example.com", "a brand new passphrase 41").await);
    // A silent sign-in: the password, then the operator's redirect signs in (no SIM check, no code).
    let login = alice.login(env, "alice@example.com", "a brand new passphrase 41").await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    let started = alice.send(env, Event::post("/api/login/silent", json!({})).csrf(&csrf)).await;
    let check_url = started.json()["check_url"].as_str().map(str::to_owned).expect("silent");
    let cb = alice.follow_to_callback(env, &env.device_visit(&check_url).await).await;
    assert_eq!(cb.location().as_deref(), Some("/login.html?r=signed_in"), "{}", cb.text());

    // The SIM-changed user: stopped at the callback, and at the SIM check of a login.
    let mut sam = Browser::at("198.51.100.22");
    let (_, cb) = sam.silent_reset(env, "sam@example.com").await;
    assert!(cb.location().is_some_and(|l| l.contains("sim_changed")), "{:?}", cb.location());
    // Sue's number moved to a new SIM too: her login is stopped at the SIM check (each owner is told;
    // Sam already was, this hour).
    let mut sue = Browser::at("198.51.100.25");
    let login = sue.login(env, "sue@example.com", PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    let sim = sue.sim_check(env, &csrf).await;
    assert_eq!(sim.json(), json!({ "next": "blocked", "reason": "sim_changed" }), "{}", sim.text());

    // The SMS reset: no coverage, SIM check, a wrong code, the right one, new password.
    let mut bob = Browser::at("198.51.100.23");
    let start = bob.start_reset(env, "bob@example.com").await;
    assert_eq!(start.json()["next"], "sms", "{}", start.text());
    let csrf = start.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(bob.sim_check(env, &csrf).await.json(), json!({ "next": "otp" }));
    assert_eq!(bob.otp_start(env, &csrf).await.json(), json!({ "status": "sent" }));
    let code = env.last_code("+447000000070");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(bob.otp_verify(env, &csrf, wrong).await.status, 400);
    let ok = bob.otp_verify(env, &csrf, &code).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let done = bob.set_password(env, &csrf, "a brand new passphrase 43").await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(env.password_works("bob@example.com", "a brand new passphrase 43").await);

    verification_api_through_cloudfront(env).await;
    cognito_sign_in(env).await;
}

/// A relying site's verification, its key in the header CloudFront forwards: created, run on the SMS
/// path in a browser, redeemed once.
async fn verification_api_through_cloudfront(env: &Env) {
    use simguard::domain::relying_site::SiteId;
    let site = SiteId::parse("shop").expect("id");
    let back = "https://shop.example/verified";
    let key = register_site(env, "shop", back, 3).await;
    let api =
        |path: &str, body: Value| Event::post(path, body).without_header("origin").header("x-simguard-api-key", &key);
    let created = env
        .send(&api(
            "/api/v1/verifications",
            json!({ "phone": "+447000000072", "purpose": "step_up", "return_url": back }),
        ))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let link = created.json()["url"].as_str().expect("url").rsplit('#').next().expect("token").to_owned();
    let mut dave = Browser::at("198.51.100.24");
    let begun = dave.send(env, Event::post("/api/verify/begin", json!({ "token": link }))).await;
    assert_eq!(begun.json()["next"], "sms", "{}", begun.text());
    let csrf = begun.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(dave.sim_check(env, &csrf).await.json(), json!({ "next": "otp" }));
    assert_eq!(dave.otp_start(env, &csrf).await.status, 200);
    let done = dave.otp_verify(env, &csrf, &env.last_code("+447000000072")).await;
    let url = url::Url::parse(done.json()["url"].as_str().expect("url")).expect("return url");
    let token = url.query_pairs().find(|(k, _)| k == "simguard_token").map(|(_, v)| v.into_owned()).expect("token");
    let redeemed = env.send(&api("/api/v1/verifications/redeem", json!({ "token": token }))).await;
    assert_eq!((redeemed.status, redeemed.json()["method"].as_str()), (200, Some("sms")), "{}", redeemed.text());
    assert_eq!(env.send(&api("/api/v1/verifications/redeem", json!({ "token": token }))).await.status, 409);

    // A backend inside AWS calls the API's own endpoint (not CloudFront) on an IAM-authorised route:
    // API Gateway puts its principal in the event, and the origin-verify check does not apply.
    let role = simguard::domain::relying_site::principal("arn:aws:iam::123456789012:role/shop-backend").expect("role");
    env.store.put_site_principal(&role, &site).await.expect("principal");
    let body = json!({ "phone": "+447000000072", "purpose": "login", "return_url": back });
    let mut event = Event::post("/api/v1/iam/verifications", body).without_header("origin").to_json();
    event["requestContext"]["authorizer"] = json!({ "iam": { "accountId": "123456789012", "userArn": "arn:aws:sts::123456789012:assumed-role/shop-backend/i-1" } });
    let created = env.send_event_json("/api/v1/iam/verifications", &event.to_string()).await;
    assert_eq!(created.status, 201, "{}", created.text());
}

/// A Cognito sign-in's simguard round, through the deployed cognito-auth function: a code, checked.
async fn cognito_sign_in(env: &Env) {
    let triggers = env.cognito.as_ref().expect("the cognito-auth function is deployed");
    let attributes = json!({ "sub": "5f8c0e3a", "phone_number": "+447000000070", "phone_number_verified": "true" });
    let session = json!([
        { "challengeName": "SRP_A", "challengeResult": true },
        { "challengeName": "PASSWORD_VERIFIER", "challengeResult": true },
    ]);
    let event = |source: &str, request: Value| {
        json!({ "version": "1", "region": "eu-west-2", "userPoolId": "eu-west-2_Ex4mple", "userName": "alice",
                "callerContext": { "clientId": "3n4b5urk1ft4fl3mg5e62d9ado" }, "triggerSource": source,
                "request": request, "response": {} })
    };
    let created = triggers
        .handle(event(
            "CreateAuthChallenge_Authentication",
            json!({ "userAttributes": attributes, "session": session }),
        ))
        .await
        .expect("create");
    let private = created["response"]["privateChallengeParameters"].clone();
    assert_eq!(created["response"]["publicChallengeParameters"]["next"], "sms", "{created}");
    let verify = json!({ "userAttributes": attributes, "privateChallengeParameters": private, "challengeAnswer": env.last_code("+447000000070") });
    let checked = triggers.handle(event("VerifyAuthChallengeResponse_Authentication", verify)).await.expect("verify");
    assert_eq!(checked["response"]["answerCorrect"], true);
}

/// docs/security.md D6: the queue, its dead-letter queue and the event source are what the consumer
/// relies on, the same in SAM and CDK: partial batch failures reported (else a failed email would be
/// deleted with its batch), a bounded number of deliveries before the dead-letter queue, a visibility
/// timeout of at least six times the function's (Lambda's advice for an event source), and a batch
/// whose emails all fit in the function's time.
#[test]
fn the_notification_queue_is_wired_as_the_consumer_expects() {
    let mut seen = Vec::new();
    for t in [sam(), cdk()] {
        let (id, esm) = t.one_of_type("AWS::Lambda::EventSourceMapping");
        let p = &esm["Properties"];
        assert_eq!(p["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]), "{}: {id}", t.kind);
        let batch = p["BatchSize"].as_u64().expect("BatchSize");
        let queue_id = Template::target(&p["EventSourceArn"]).expect("the queue");
        let queue = &t.resources()[&queue_id]["Properties"];
        let visibility = queue["VisibilityTimeout"].as_u64().expect("VisibilityTimeout");
        let redrive = &queue["RedrivePolicy"];
        let receives = redrive["maxReceiveCount"].as_u64().expect("maxReceiveCount");
        let dead_letters = Template::target(&redrive["deadLetterTargetArn"]).expect("a dead-letter queue");
        assert_eq!(t.resource_type(&dead_letters), "AWS::SQS::Queue", "{}", t.kind);
        let function = Template::target(&p["FunctionName"]).expect("the consumer");
        let timeout = t.resources()[&function]["Properties"]["Timeout"].as_u64().expect("Timeout");
        assert!((2..=10).contains(&receives), "{}: {receives} deliveries before the dead-letter queue", t.kind);
        assert!(visibility >= 6 * timeout, "{}: visibility {visibility} s for a {timeout} s function", t.kind);
        let per_email = simguard::consumer::TIME_PER_NOTIFICATION.as_secs();
        assert!(batch * per_email <= timeout, "{}: {batch} emails of {per_email} s in {timeout} s", t.kind);
        seen.push((batch, receives, visibility, timeout));
    }
    assert_eq!(seen[0], seen[1], "SAM and CDK wire the queue alike");
}

/// docs/cognito.md: with an existing pool and the example pool asked for, SAM and CDK deploy the same
/// Cognito wiring (the CDK app synthesized with those context values, SAM's conditions evaluated):
/// the example pool's three triggers are the cognito-auth function, its client allows only the custom
/// flow and hides which users exist, and each pool may invoke the function, the existing one by its
/// ARN. Without them, neither deploys a pool or a permission.
#[test]
fn cognito_is_wired_alike_in_sam_and_cdk() {
    const POOL: &str = "arn:aws:cognito-idp:eu-west-2:123456789012:userpool/eu-west-2_Ex4mple";
    // What a template deploys for Cognito, with functions by their simguard name.
    let wiring = |t: &Template, r: &Resolver| -> Value {
        let present = |res: &Value| res["Condition"].as_str().is_none_or(|c| r.condition(c));
        let function_of = |v: &Value| {
            let id = Template::target(v).expect("a function");
            tag(&t.resources()[&id]["Properties"], "simguard:function").expect("a simguard function")
        };
        let mut pools = Vec::new();
        for (_, pool) in t.of_type("AWS::Cognito::UserPool").filter(|(_, p)| present(p)) {
            let triggers: BTreeMap<String, String> = pool["Properties"]["LambdaConfig"]
                .as_object()
                .expect("LambdaConfig")
                .iter()
                .map(|(k, v)| (k.clone(), function_of(v)))
                .collect();
            pools.push(json!(triggers));
        }
        let mut clients = Vec::new();
        for (_, client) in t.of_type("AWS::Cognito::UserPoolClient").filter(|(_, c)| present(c)) {
            let p = &client["Properties"];
            let mut flows: Vec<String> =
                p["ExplicitAuthFlows"].as_array().expect("flows").iter().map(|f| r.string(f)).collect();
            flows.sort();
            clients.push(json!({
                "flows": flows,
                "prevent_user_existence_errors": r.string(&p["PreventUserExistenceErrors"]),
                "secret": p["GenerateSecret"].as_bool().unwrap_or(false),
            }));
        }
        let mut permissions = Vec::new();
        for (_, perm) in t.of_type("AWS::Lambda::Permission").filter(|(_, p)| present(p)) {
            let p = &perm["Properties"];
            if r.string(&p["Principal"]) != "cognito-idp.amazonaws.com" {
                continue;
            }
            let source = &p["SourceArn"];
            let pool = match Template::target(source) {
                Some(id) if t.resources().get(&id).is_some_and(|res| res["Type"] == "AWS::Cognito::UserPool") => {
                    "the example pool".to_owned()
                }
                _ => r.string(source),
            };
            permissions.push(json!({ "function": function_of(&p["FunctionName"]), "pool": pool }));
        }
        // CDK grants once per trigger, SAM once per pool: the same permission.
        permissions.sort_by_key(|p| p.to_string());
        permissions.dedup();
        json!({ "pools": pools, "clients": clients, "permissions": permissions })
    };
    let none = json!({ "pools": [], "clients": [], "permissions": [] });
    assert_eq!(wiring(sam(), &Resolver::new(sam(), "tbl", "provider")), none, "SAM without Cognito");
    assert_eq!(wiring(cdk(), &Resolver::new(cdk(), "tbl", "provider")), none, "CDK without Cognito");

    let sam_r =
        Resolver::new(sam(), "tbl", "provider").with("CognitoExamplePool", "true").with("CognitoUserPoolArn", POOL);
    let with_cognito = cdk_with(&[("cognitoExamplePool", "true"), ("cognitoUserPoolArn", POOL)]);
    let sam_w = wiring(sam(), &sam_r);
    let cdk_w = wiring(&with_cognito, &Resolver::new(&with_cognito, "tbl", "provider"));
    assert_eq!(sam_w, cdk_w, "SAM (left) and CDK (right)");
    let triggers = json!({
        "CreateAuthChallenge": "cognito-auth",
        "DefineAuthChallenge": "cognito-auth",
        "VerifyAuthChallengeResponse": "cognito-auth",
    });
    assert_eq!(sam_w["pools"], json!([triggers]));
    assert_eq!(
        sam_w["clients"],
        json!([{ "flows": ["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"], "prevent_user_existence_errors": "ENABLED", "secret": false }])
    );
    let mut expected = vec![
        json!({ "function": "cognito-auth", "pool": POOL }),
        json!({ "function": "cognito-auth", "pool": "the example pool" }),
    ];
    expected.sort_by_key(|p| p.to_string());
    assert_eq!(sam_w["permissions"], json!(expected));
}

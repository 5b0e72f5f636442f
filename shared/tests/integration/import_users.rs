//! Bringing a site's existing users in (`simguard-admin import-users`, docs/import.md): every hash
//! format simguard verifies, every refusal with its reason, dry runs, re-runs that change nothing,
//! one whole account per row on DynamoDB (moto); and the imported password's first sign-in, which
//! replaces the other system's hash by simguard's own.

use password_hash::PasswordHasher as _;
use serde_json::json;
use simguard::adapters::dynamo::DynamoStore;
use simguard::adapters::random::OsRandom;
use simguard::domain::{Email, Region, Timestamp, User};
use simguard::import::{ImportOptions, ImportReport, Rejection, import_users, read_csv, read_jsonl};
use simguard::ports::Store;

use crate::support::*;

const SALT: [u8; 16] = *b"0123456789abcdef";
const NOW: Timestamp = Timestamp(1_800_000_000);

/// `password` hashed in each format the importer takes, with cheap parameters.
fn hashes(password: &str) -> Vec<(&'static str, String)> {
    let pw = password.as_bytes();
    let bcrypt = bcrypt::hash_with_salt(pw, 4, SALT).expect("bcrypt").format_for_version(bcrypt::Version::TwoB);
    let scrypt = scrypt::Scrypt::new_with_params(scrypt::Params::new(4, 8, 1).expect("params"))
        .hash_password_with_salt(pw, &SALT)
        .expect("scrypt")
        .to_string();
    let pbkdf2 = pbkdf2::Pbkdf2::new(pbkdf2::Algorithm::Pbkdf2Sha256, pbkdf2::Params::new(1000).expect("params"))
        .hash_password_with_salt(pw, &SALT)
        .expect("pbkdf2")
        .to_string();
    let params = argon2::Params::new(64, 1, 1, None).expect("params");
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_with_salt(pw, &SALT)
        .expect("argon2")
        .to_string();
    vec![("bcrypt", bcrypt), ("scrypt", scrypt), ("pbkdf2", pbkdf2), ("argon2", argon2)]
}

fn options(dry_run: bool) -> ImportOptions {
    ImportOptions { dry_run, phones_confirmed: false, region: Region::parse("GB"), now: NOW }
}

async fn run(store: &dyn Store, csv: &str, dry_run: bool) -> ImportReport {
    import_users(store, &OsRandom, read_csv(csv.as_bytes()), options(dry_run), |_, _| {}).await.expect("import")
}

fn rejections(report: &ImportReport) -> Vec<(usize, &'static str)> {
    report.rejected.iter().map(|r| (r.line, r.why.code())).collect()
}

/// The file: one account per format, then one row for each reason to refuse.
fn file() -> String {
    let mut csv = String::from("email,phone,password_hash,phone_confirmed\n");
    for (i, (format, hash)) in hashes("their old password").into_iter().enumerate() {
        let confirmed = if format == "bcrypt" { "true" } else { "" };
        csv.push_str(&format!("{format}@example.com,+44770090010{i},\"{hash}\",{confirmed}\n"));
    }
    let bcrypt = hashes("x").remove(0).1;
    for row in [
        "bad-phone@example.com,12,\"HASH\",".replace("HASH", &bcrypt),
        "md5@example.com,+447700900201,5f4dcc3b5aa765d61d8327deb882cf99,".into(),
        "costly@example.com,+447700900202,\"HASH\",".replace("HASH", &bcrypt.replacen("$04$", "$16$", 1)),
        "bcrypt@example.com,+447700900203,\"HASH\",".replace("HASH", &bcrypt),
        // A Cyrillic "а": on screen, the same as argon2@example.com.
        "\u{430}rgon2@example.com,+447700900204,\"HASH\",".replace("HASH", &bcrypt),
        "not an email,+447700900205,\"HASH\",".replace("HASH", &bcrypt),
        "native@example.com,+447700900206,\"HASH\",".replace("HASH", &bcrypt),
        "only-two-columns@example.com,+447700900207".into(),
        "national@example.com,07700 900208,\"HASH\",".replace("HASH", &bcrypt),
    ] {
        csv.push_str(&row);
        csv.push('\n');
    }
    csv
}

fn expected_rejections() -> Vec<(usize, &'static str)> {
    vec![
        (6, Rejection::BadPhone.code()),
        (7, Rejection::UnknownHashFormat.code()),
        (8, Rejection::HashCostTooHigh.code()),
        (9, Rejection::DuplicateEmail.code()),
        (10, Rejection::ConfusableEmail.code()),
        (11, Rejection::BadEmail.code()),
        (12, Rejection::EmailTaken.code()),
        (13, Rejection::Malformed.code()),
    ]
}

#[tokio::test]
async fn imports_every_format_and_reports_every_refusal_on_dynamodb() {
    let (client, table) = moto::fresh_table().await;
    let store = DynamoStore::new(client, table);
    // An account registered with simguard already has one of the emails.
    let native = User {
        id: simguard::domain::UserId("native".into()),
        email: Email::parse("native@example.com").expect("email"),
        phone: simguard::domain::Phone::from_e164("+447700900999").expect("phone"),
        password_hash: simguard::domain::PasswordHash::from_phc("$argon2id$native".into()),
        created_at: NOW,
        phone_verified_at: None,
        credential_version: 0,
        imported_at: None,
        password_imported: false,
    };
    store.create_user(&native).await.expect("native");

    // A dry run checks everything and writes nothing.
    let dry = run(&store, &file(), true).await;
    assert_eq!((dry.created, dry.unchanged), (5, 0), "{dry:?}");
    assert_eq!(rejections(&dry), expected_rejections());
    assert!(store.user_by_email(&Email::parse("scrypt@example.com").expect("e")).await.expect("read").is_none());

    let report = run(&store, &file(), false).await;
    assert_eq!((report.created, report.unchanged), (5, 0), "{report:?}");
    assert_eq!(rejections(&report), expected_rejections());
    // The report masks emails.
    assert!(report.rejected.iter().all(|r| !r.email.contains("bad-phone")), "{report:?}");
    for format in ["bcrypt", "scrypt", "pbkdf2", "argon2"] {
        let user = store.user_by_email(&Email::parse(&format!("{format}@example.com")).expect("e")).await;
        let user = user.expect("read").expect("imported");
        assert_eq!((user.imported_at, user.password_imported, user.credential_version), (Some(NOW), true, 0));
        // Unconfirmed unless the row said so.
        assert_eq!(user.phone_verified_at.is_some(), format == "bcrypt", "{format}");
    }
    // A national number read with the region.
    let national = store.user_by_email(&Email::parse("national@example.com").expect("e")).await.expect("read");
    assert_eq!(national.map(|u| u.phone.e164().to_owned()).as_deref(), Some("+447700900208"));

    // Again: nothing changes.
    let again = run(&store, &file(), false).await;
    assert_eq!((again.created, again.unchanged), (0, 5), "{again:?}");
    assert_eq!(rejections(&again), expected_rejections());
}

#[test]
fn json_lines_are_read_line_by_line() {
    let hash = hashes("pw").remove(0).1;
    let text = format!(
        "{}\n\n{}\nnot json\n{}\n",
        json!({ "email": "a@example.com", "phone": "+447700900300", "password_hash": hash, "phone_confirmed": true }),
        json!({ "email": "b@example.com", "phone": "+447700900301", "password_hash": hash }),
        json!({ "email": "c@example.com", "phone": "+447700900302" }),
    );
    let rows = read_jsonl(text.as_bytes());
    // Each line: (line, phone_confirmed) when read, (line, why) when not.
    let read: Vec<_> = rows.iter().filter_map(|r| r.as_ref().ok()).map(|r| (r.line, r.phone_confirmed)).collect();
    let refused: Vec<_> = rows.iter().filter_map(|r| r.as_ref().err()).map(|e| (e.line, e.why.code())).collect();
    assert_eq!(read, [(1, Some(true)), (3, None)]);
    assert_eq!(refused, [(4, "malformed_row"), (5, "malformed_row")]);
}

/// Progress is reported every hundred rows and at the end.
#[tokio::test]
async fn long_imports_report_progress() {
    let store = simguard::adapters::memory::MemoryStore::new();
    let hash = hashes("pw").remove(0).1;
    let mut csv = String::from("email,phone,password_hash\n");
    for i in 0..250 {
        csv.push_str(&format!("user{i}@example.com,+4477009{:05},\"{hash}\"\n", i));
    }
    let mut seen = Vec::new();
    let report = import_users(&store, &OsRandom, read_csv(csv.as_bytes()), options(false), |done, total| {
        seen.push((done, total));
    })
    .await
    .expect("import");
    assert_eq!(report.created, 250);
    assert_eq!(seen, [(100, 250), (200, 250), (250, 250)]);
}

/// The first sign-in verifies the other system's hash and replaces it by simguard's (with the
/// pepper); from then on only the password proves it, as for any account.
#[tokio::test]
async fn an_imported_password_signs_in_and_is_replaced() {
    let env = Env::builder().start().await;
    let mut csv = String::from("email,phone,password_hash\n");
    for (format, hash) in hashes("their old password") {
        csv.push_str(&format!("{format}@example.com,+447000000070,\"{hash}\"\n"));
    }
    let report = import_users(&*env.store, &OsRandom, read_csv(csv.as_bytes()), options(false), |_, _| {}).await;
    assert_eq!(report.expect("import").created, 4);
    for format in ["bcrypt", "scrypt", "pbkdf2", "argon2"] {
        let email = format!("{format}@example.com");
        let mut b = Browser::default();
        assert_eq!(b.login(&env, &email, "not their password").await.status, 401, "{format}");
        assert!(env.stored_user(&email).await.password_imported, "a wrong password changes nothing");
        let first = b.login(&env, &email, "their old password").await;
        assert_eq!((first.status, first.json()["next"].clone()), (200, json!("second_factor")), "{format}");
        let user = env.stored_user(&email).await;
        assert!(!user.password_imported, "{format}: replaced");
        assert!(user.password_hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{format}");
        assert_ne!(
            user.password_hash.as_str(),
            hashes("their old password").iter().find(|(f, _)| *f == format).map(|(_, h)| h.as_str()).unwrap_or("")
        );
        // Signs in with it again (simguard's own hash now), and a wrong one still fails.
        assert_eq!(b.login(&env, &email, "their old password").await.status, 200, "{format}");
        assert_eq!(b.login(&env, &email, "not their password").await.status, 401, "{format}");
    }
}

/// An imported account is not a new one: a SIM changed within the window stops its sign-in (no
/// new-account grace), and it does not expire for never having proven its phone.
#[tokio::test]
async fn an_imported_account_has_no_new_account_grace_and_does_not_expire() {
    let env = Env::builder().start().await;
    let hash = hashes("their old password").remove(0).1;
    let csv = format!("email,phone,password_hash\nsam@example.com,+447000000008,\"{hash}\"\n");
    let now = simguard::ports::Clock::now(&env.clock);
    let opts = ImportOptions { now, ..options(false) };
    import_users(&*env.store, &OsRandom, read_csv(csv.as_bytes()), opts, |_, _| {}).await.expect("import");
    let mut b = Browser::default();
    let login = b.login(&env, "sam@example.com", "their old password").await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    let sim = b.sim_check(&env, &csrf).await;
    assert_eq!(sim.json(), json!({ "next": "blocked", "reason": "sim_changed" }), "{}", sim.text());
    let user = env.stored_user("sam@example.com").await;
    assert!(!user.expired_unconfirmed(now.plus_secs(365 * 86_400)));
}

/// A password reset replaces the imported hash too: the new password signs in, the old one not.
#[tokio::test]
async fn a_reset_replaces_an_imported_hash() {
    let env = Env::builder().start().await;
    let hash = hashes("their old password").remove(1).1;
    let csv = format!("email,phone,password_hash\nalice@example.com,+447000000070,\"{hash}\"\n");
    import_users(&*env.store, &OsRandom, read_csv(csv.as_bytes()), options(false), |_, _| {}).await.expect("import");
    let mut b = Browser::default();
    let (csrf, cb) = b.silent_reset(&env, "alice@example.com").await;
    assert_eq!(cb.location().as_deref(), Some("/reset/new-password.html"), "{}", cb.text());
    assert_eq!(b.set_password(&env, &csrf, "a brand new passphrase 47").await.status, 200);
    assert!(!env.stored_user("alice@example.com").await.password_imported);
    assert_eq!(b.login(&env, "alice@example.com", "a brand new passphrase 47").await.status, 200);
    assert_eq!(b.login(&env, "alice@example.com", "their old password").await.status, 401);
}

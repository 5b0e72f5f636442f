//! Bringing a site's existing users into simguard's store (`simguard-admin import-users`): rows of
//! email, phone and the password hash the site already has, from CSV or JSON Lines. Each row is
//! checked in full before anything is written, and each account is written with its email and
//! look-alike claims in one transaction (never half an account). Re-running the same file changes
//! nothing: an account already imported is left as it is (its owner may have signed in since and
//! had the hash replaced). A dry run checks every row and writes nothing.

use std::collections::HashMap;
use std::io::BufRead;

use serde::Deserialize;

use crate::domain::imported_hash::{self, ImportedHashError};
use crate::domain::{Email, PasswordHash, Phone, Region, Timestamp, User, UserId};
use crate::ports::{Random, Store, StoreError};

/// One row as read, with its line in the file (1 is the first line).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImportRow {
    /// Where it is in the file.
    #[serde(skip)]
    pub line: usize,
    /// The account's email, as the site has it.
    pub email: String,
    /// Its phone: with `+` and the country code, or national with `--region`.
    pub phone: String,
    /// The site's hash of its password (bcrypt, or a PHC string of scrypt, PBKDF2-SHA256, Argon2).
    pub password_hash: String,
    /// Whether the site already proved the number (it then counts as confirmed).
    #[serde(default)]
    pub phone_confirmed: Option<bool>,
}

/// Why a row was not imported: a fixed code for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not a row of the expected shape (a missing column, broken JSON or CSV).
    Malformed,
    /// Not an email address simguard accepts.
    BadEmail,
    /// Not a phone number (national numbers need `--region`).
    BadPhone,
    /// Not a hash format simguard can verify.
    UnknownHashFormat,
    /// A hash whose verification would cost a sign-in too much.
    HashCostTooHigh,
    /// The same email earlier in the file.
    DuplicateEmail,
    /// An email that looks the same as another's on screen (in the file or the store).
    ConfusableEmail,
    /// The email belongs to an account that was not imported (registered with simguard).
    EmailTaken,
}

impl Rejection {
    /// The report's code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed_row",
            Self::BadEmail => "bad_email",
            Self::BadPhone => "bad_phone",
            Self::UnknownHashFormat => "unknown_hash_format",
            Self::HashCostTooHigh => "hash_cost_too_high",
            Self::DuplicateEmail => "duplicate_email",
            Self::ConfusableEmail => "confusable_email",
            Self::EmailTaken => "email_taken",
        }
    }
}

/// How to import.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Check everything, write nothing.
    pub dry_run: bool,
    /// Every row's phone counts as confirmed (a row's own `phone_confirmed` wins).
    pub phones_confirmed: bool,
    /// How national phone numbers are read; without it only `+…` numbers are accepted.
    pub region: Option<Region>,
    /// The import's time: the accounts' `created_at` and `imported_at`.
    pub now: Timestamp,
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its line.
    pub line: usize,
    /// Its email, masked (`a•••@example.com`), or empty when it had none.
    pub email: String,
    /// Why.
    pub why: Rejection,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Accounts created.
    pub created: usize,
    /// Rows whose account was already imported: left as it is.
    pub unchanged: usize,
    /// Rows not imported, with the reason.
    pub rejected: Vec<Rejected>,
}

/// The rows of a CSV file with a header (`email,phone,password_hash[,phone_confirmed]`).
pub fn read_csv(input: impl std::io::Read) -> Vec<Result<ImportRow, Rejected>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
    let mut rows = Vec::new();
    for (i, record) in reader.deserialize::<ImportRow>().enumerate() {
        // Line 1 is the header; a record's own position is more exact when the reader knows it.
        rows.push(match record {
            Ok(mut row) => {
                row.line = i + 2;
                Ok(row)
            }
            Err(e) => {
                let line = e.position().map_or(i + 2, |p| usize::try_from(p.line()).unwrap_or(i + 2));
                Err(Rejected { line, email: String::new(), why: Rejection::Malformed })
            }
        });
    }
    rows
}

/// The rows of a JSON Lines file: one object per line; blank lines are skipped.
pub fn read_jsonl(input: impl BufRead) -> Vec<Result<ImportRow, Rejected>> {
    let mut rows = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line_no = i + 1;
        let Ok(text) = line else {
            rows.push(Err(Rejected { line: line_no, email: String::new(), why: Rejection::Malformed }));
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        rows.push(match serde_json::from_str::<ImportRow>(&text) {
            Ok(mut row) => {
                row.line = line_no;
                Ok(row)
            }
            Err(_) => Err(Rejected { line: line_no, email: String::new(), why: Rejection::Malformed }),
        });
    }
    rows
}

/// A row that passed every check of its own: what its account will be made of.
struct Checked {
    line: usize,
    email: Email,
    phone: Phone,
    hash: PasswordHash,
    confirmed: bool,
}

fn check(row: &ImportRow, options: &ImportOptions) -> Result<Checked, (String, Rejection)> {
    let email = Email::parse(&row.email).map_err(|_| (String::new(), Rejection::BadEmail))?;
    let masked = email.masked();
    let phone = Phone::parse(&row.phone, options.region).map_err(|_| (masked.clone(), Rejection::BadPhone))?;
    imported_hash::classify(&row.password_hash).map_err(|e| {
        let why = match e {
            ImportedHashError::UnknownFormat => Rejection::UnknownHashFormat,
            ImportedHashError::CostTooHigh => Rejection::HashCostTooHigh,
        };
        (masked.clone(), why)
    })?;
    Ok(Checked {
        line: row.line,
        email,
        phone,
        hash: PasswordHash::from_phc(row.password_hash.clone()),
        confirmed: row.phone_confirmed.unwrap_or(options.phones_confirmed),
    })
}

/// Imports `rows` into `store`. `progress` is told how many rows are done, every 100 and at the end.
/// Store failures stop the import (what was written stays written, one whole account at a time; run
/// it again to finish: written accounts are then `unchanged`).
pub async fn import_users(
    store: &dyn Store,
    random: &dyn Random,
    rows: Vec<Result<ImportRow, Rejected>>,
    options: ImportOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    let total = rows.len();
    // The file's own emails and look-alikes, first row wins.
    let mut emails: HashMap<String, usize> = HashMap::new();
    let mut skeletons: HashMap<String, String> = HashMap::new();
    for (done, row) in rows.into_iter().enumerate() {
        if done > 0 && done % 100 == 0 {
            progress(done, total);
        }
        let row = match row {
            Ok(row) => row,
            Err(rejected) => {
                report.rejected.push(rejected);
                continue;
            }
        };
        let checked = match check(&row, &options) {
            Ok(c) => c,
            Err((email, why)) => {
                report.rejected.push(Rejected { line: row.line, email, why });
                continue;
            }
        };
        let reject = |why| Rejected { line: checked.line, email: checked.email.masked(), why };
        let skeleton = checked.email.skeleton();
        if emails.contains_key(checked.email.as_str()) {
            report.rejected.push(reject(Rejection::DuplicateEmail));
            continue;
        }
        if skeletons.get(&skeleton).is_some_and(|other| other != checked.email.as_str()) {
            report.rejected.push(reject(Rejection::ConfusableEmail));
            continue;
        }
        emails.insert(checked.email.as_str().to_owned(), checked.line);
        skeletons.insert(skeleton.clone(), checked.email.as_str().to_owned());
        // What the store has for this email, or a look-alike of it.
        match existing(store, &checked.email, &skeleton).await? {
            Some(Existing::Imported) => {
                report.unchanged += 1;
                continue;
            }
            Some(Existing::Registered) => {
                report.rejected.push(reject(Rejection::EmailTaken));
                continue;
            }
            Some(Existing::LookAlike) => {
                report.rejected.push(reject(Rejection::ConfusableEmail));
                continue;
            }
            None => {}
        }
        if options.dry_run {
            report.created += 1;
            continue;
        }
        let id = random.id().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let user = User {
            id: UserId(id),
            email: checked.email.clone(),
            phone: checked.phone,
            password_hash: checked.hash,
            created_at: options.now,
            phone_verified_at: checked.confirmed.then_some(options.now),
            credential_version: 0,
            imported_at: Some(options.now),
            password_imported: true,
        };
        match store.create_user(&user).await {
            Ok(()) => report.created += 1,
            // Taken since it was read (another import, a registration): as if it had been then.
            Err(StoreError::EmailTaken(_)) => match existing(store, &checked.email, &skeleton).await? {
                Some(Existing::Imported) => report.unchanged += 1,
                Some(Existing::LookAlike) => report.rejected.push(reject(Rejection::ConfusableEmail)),
                _ => report.rejected.push(reject(Rejection::EmailTaken)),
            },
            Err(e) => return Err(e),
        }
    }
    progress(total, total);
    Ok(report)
}

enum Existing {
    /// An account imported before, with this email.
    Imported,
    /// An account registered with simguard, with this email.
    Registered,
    /// Another email that looks the same.
    LookAlike,
}

async fn existing(store: &dyn Store, email: &Email, skeleton: &str) -> Result<Option<Existing>, StoreError> {
    if let Some(user) = store.user_by_email(email).await? {
        return Ok(Some(if user.imported_at.is_some() { Existing::Imported } else { Existing::Registered }));
    }
    Ok(store.user_by_skeleton(skeleton).await?.map(|_| Existing::LookAlike))
}

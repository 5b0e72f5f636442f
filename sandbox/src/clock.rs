//! The sandbox's own clock: real time by default, frozen and steerable for tests.

use std::sync::Mutex;

#[derive(Debug, Clone, Copy)]
enum Mode {
    System { offset_secs: i64 },
    Frozen { at: i64 },
}

#[derive(Debug)]
pub struct SandboxClock(Mutex<Mode>);

impl SandboxClock {
    pub fn system() -> Self {
        Self(Mutex::new(Mode::System { offset_secs: 0 }))
    }

    pub fn frozen(at_unix_secs: i64) -> Self {
        Self(Mutex::new(Mode::Frozen { at: at_unix_secs }))
    }

    pub fn now(&self) -> i64 {
        let real = time::OffsetDateTime::now_utc().unix_timestamp();
        match self.0.lock().map(|m| *m) {
            Ok(Mode::System { offset_secs }) => real + offset_secs,
            Ok(Mode::Frozen { at }) => at,
            Err(_) => real,
        }
    }

    pub fn advance(&self, secs: i64) {
        if let Ok(mut m) = self.0.lock() {
            *m = match *m {
                Mode::System { offset_secs } => Mode::System { offset_secs: offset_secs + secs },
                Mode::Frozen { at } => Mode::Frozen { at: at + secs },
            };
        }
    }
}

/// `2020-06-01T16:43:30+00:00`, the form tru.ID uses.
pub fn iso8601(unix_secs: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00+00:00".to_owned())
}

/// `2015-07-30T20:00:00Z`, the form Twilio uses.
pub fn iso8601_z(unix_secs: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// `2020-01-01 12:00:00` (UTC), the form Vonage Verify v1 search uses.
pub fn sql_datetime(unix_secs: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "1970-01-01 00:00:00".to_owned())
}

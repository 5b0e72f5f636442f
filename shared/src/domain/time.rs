//! Points in time, as the store and the providers count them.

/// Seconds since the Unix epoch. Stored as a number (DynamoDB TTL attributes use the same unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// This time plus `secs` seconds (saturating).
    pub fn plus_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs))
    }

    /// This time minus `secs` seconds (saturating).
    pub fn minus_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_sub(secs))
    }

    /// Seconds from `self` until `later`, never negative.
    pub fn secs_until(self, later: Timestamp) -> i64 {
        (later.0 - self.0).max(0)
    }

    /// RFC 3339 in UTC, for messages shown to people.
    pub fn to_rfc3339(self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }
}

/// Start of the fixed window of `window_secs` that contains `now`.
pub fn window_start(now: Timestamp, window_secs: u64) -> Timestamp {
    let w = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
    Timestamp(now.0 - now.0.rem_euclid(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_formatting() {
        assert_eq!(window_start(Timestamp(3600 * 10 + 5), 3600), Timestamp(36000));
        assert_eq!(Timestamp(10).secs_until(Timestamp(4)), 0);
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
    }
}

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

    /// An RFC 3339 date-time with its offset (as providers send them); `None` for anything else.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| Timestamp(t.unix_timestamp()))
    }
}

/// An ISO 8601 duration of weeks, days, hours and minutes (`PT48H`, `P7D`, `P1W`, `P1DT12H`), in
/// minutes; `None` for anything else (years and months have no fixed length).
pub fn iso8601_duration_minutes(s: &str) -> Option<u64> {
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut minutes: u64 = 0;
    let mut parts = 0;
    let mut take = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let (_, per) = units.iter().find(|(u, _)| *u == c)?;
            let n: u64 = number.parse().ok()?;
            minutes = minutes.checked_add(n.checked_mul(*per)?)?;
            number.clear();
            parts += 1;
        }
        number.is_empty().then_some(())
    };
    take(date, &[('W', 7 * 1440), ('D', 1440)])?;
    if let Some(t) = time {
        take(t, &[('H', 60), ('M', 1)])?;
    }
    (parts > 0).then_some(minutes)
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
        assert_eq!(Timestamp::parse_rfc3339("2020-04-27T10:18:50Z"), Some(Timestamp(1_587_982_730)));
        assert_eq!(Timestamp::parse_rfc3339("2023-07-03T14:27:08.312+02:00"), Some(Timestamp(1_688_387_228)));
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn durations() {
        for (s, want) in [("PT48H", Some(2880)), ("P7D", Some(10_080)), ("P1W", Some(10_080)), ("P1DT12H", Some(2160))]
        {
            assert_eq!(iso8601_duration_minutes(s), want, "{s}");
        }
        for bad in ["", "P", "PT", "48H", "P1Y", "P1M", "PT1.5H", "P1DT", "PTH"] {
            assert_eq!(iso8601_duration_minutes(bad), None, "{bad}");
        }
    }
}

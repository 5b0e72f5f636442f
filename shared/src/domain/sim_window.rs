//! tru.ID reports a recent SIM change as a bucket (`sim_change_within`: "0–1 h", "1h01m–6 h", …);
//! whether a bucket may lie inside our own window is decided here, for SubscriberCheck and SIMCheck
//! alike.

/// The lower bound, in minutes, of each `sim_change_within` bucket (tru.ID SimChangeWithin):
/// 60 = "0–1 h", 360 = "1h01m–6 h", …, 525601 = "> 365 d".
fn bucket_lower_bound(upper: u32) -> Option<u32> {
    Some(match upper {
        60 => 0,
        360 => 61,
        720 => 361,
        1440 => 721,
        2880 => 1441,
        4320 => 2881,
        10080 => 4321,
        43200 => 10081,
        129600 => 43201,
        259200 => 129601,
        525600 => 259201,
        525601 => 525601,
        _ => return None,
    })
}

/// Whether a `sim_change_within` bucket may lie inside the window. An unknown bucket may.
pub fn change_possibly_within(sim_change_within: u32, window_minutes: u32) -> bool {
    bucket_lower_bound(sim_change_within).is_none_or(|lower| lower < window_minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_against_windows() {
        // 10080 is "3d01m–7d": inside a 7-day window and a 5-day one; 43200 ("7d01m–30d") is not in 7 days.
        assert!(change_possibly_within(10080, 10080));
        assert!(change_possibly_within(10080, 5 * 1440));
        assert!(!change_possibly_within(43200, 10080));
        assert!(change_possibly_within(43200, 43200));
        // Not in tru.ID's table: not trusted.
        assert!(change_possibly_within(999_999, 10080));
        assert!(!change_possibly_within(525601, 10080));
    }
}

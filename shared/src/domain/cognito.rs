//! An Amazon Cognito sign-in with simguard's second factor: what the Define Auth Challenge trigger
//! decides from the rounds so far, and the labels the Create trigger leaves on each round (its
//! `challengeMetadata`, which Cognito hands to the next triggers and never to the client).
//!
//! ```text
//! SRP_A → PASSWORD_VERIFIER (the password, by Cognito) → CUSTOM_CHALLENGE …
//!   the first custom round runs the SIM-swap gate: blocked → the sign-in fails
//!   then: the silent proof (when the client asks and a prover starts one) or an SMS code
//!   a silent proof that gives no verdict → a code; a wrong code → again (the same code), up to 3
//!   a right answer → tokens
//! ```

/// Wrong codes a sign-in may enter before it fails.
pub const MAX_WRONG_CODES: usize = 3;
/// Custom rounds a sign-in may take in all (a silent try, then codes).
pub const MAX_CUSTOM_ROUNDS: usize = 5;

/// Cognito's name for simguard's rounds.
pub const CUSTOM_CHALLENGE: &str = "CUSTOM_CHALLENGE";

/// One round of the sign-in so far, as Cognito reports it in `session`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round<'a> {
    /// `SRP_A`, `PASSWORD_VERIFIER`, `CUSTOM_CHALLENGE`, …
    pub challenge: &'a str,
    /// Whether its answer was right.
    pub passed: bool,
    /// For a custom round: the label the Create trigger left on it.
    pub label: Option<&'a str>,
}

/// What Define tells Cognito.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Ask this challenge next.
    Challenge(&'static str),
    /// The sign-in succeeded.
    IssueTokens,
    /// The sign-in failed.
    Fail,
}

/// What a custom round was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundLabel {
    /// A silent proof, started with this prover.
    Silent {
        /// The prover's name.
        provider: String,
    },
    /// An SMS code, in this provider's verification (its reference is no secret: it is useless
    /// without the code, which went to the phone).
    Sms {
        /// The OTP provider's name.
        provider: String,
        /// Its reference.
        reference: String,
    },
    /// The SIM-swap gate or a limit refused: no proof is possible in this sign-in.
    Blocked {
        /// A fixed code: `sim_changed`, `sim_unavailable`, `phone_unverified`, `rate_limited`,
        /// `sms_unavailable`, `phone_not_supported`.
        reason: String,
    },
}

impl RoundLabel {
    /// The label as stored in `challengeMetadata`.
    pub fn encode(&self) -> String {
        match self {
            Self::Silent { provider } => format!("SILENT:{provider}"),
            Self::Sms { provider, reference } => format!("SMS:{provider}:{reference}"),
            Self::Blocked { reason } => format!("BLOCKED:{reason}"),
        }
    }

    /// A label as read back; anything else is `None` (and counts as a refusal).
    pub fn decode(raw: &str) -> Option<RoundLabel> {
        let (kind, rest) = raw.split_once(':')?;
        match kind {
            "SILENT" if !rest.is_empty() => Some(Self::Silent { provider: rest.to_owned() }),
            "SMS" => {
                let (provider, reference) = rest.split_once(':')?;
                (!provider.is_empty() && !reference.is_empty())
                    .then(|| Self::Sms { provider: provider.to_owned(), reference: reference.to_owned() })
            }
            "BLOCKED" if !rest.is_empty() => Some(Self::Blocked { reason: rest.to_owned() }),
            _ => None,
        }
    }
}

/// Define Auth Challenge: the password first (Cognito's SRP), then simguard's rounds. Anything
/// else — no password round, a wrong password, a round that is not ours, a label we did not write,
/// a refusal, too many wrong codes or rounds — fails the sign-in.
pub fn decide(rounds: &[Round<'_>], user_not_found: bool) -> Decision {
    match rounds {
        // A sign-in that does not begin with the password is not one simguard completes.
        [] => Decision::Fail,
        // An unknown user is asked for the password too (Cognito then fails it), so that the first
        // answer does not tell who has an account.
        [srp] if srp.challenge == "SRP_A" => Decision::Challenge("PASSWORD_VERIFIER"),
        _ if user_not_found => Decision::Fail,
        [srp, password, custom @ ..] if srp.challenge == "SRP_A" && password.challenge == "PASSWORD_VERIFIER" => {
            if !password.passed {
                return Decision::Fail;
            }
            custom_rounds(custom)
        }
        _ => Decision::Fail,
    }
}

fn custom_rounds(custom: &[Round<'_>]) -> Decision {
    let mut wrong_codes = 0;
    for (i, round) in custom.iter().enumerate() {
        let label = round.label.and_then(RoundLabel::decode);
        if round.challenge != CUSTOM_CHALLENGE {
            return Decision::Fail;
        }
        match label {
            None | Some(RoundLabel::Blocked { .. }) => return Decision::Fail,
            Some(RoundLabel::Silent { .. } | RoundLabel::Sms { .. }) if round.passed => {
                // Only the last round can have passed: a pass ends the sign-in.
                return if i + 1 == custom.len() { Decision::IssueTokens } else { Decision::Fail };
            }
            Some(RoundLabel::Sms { .. }) => wrong_codes += 1,
            Some(RoundLabel::Silent { .. }) => {}
        }
    }
    if wrong_codes >= MAX_WRONG_CODES || custom.len() >= MAX_CUSTOM_ROUNDS {
        return Decision::Fail;
    }
    Decision::Challenge(CUSTOM_CHALLENGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRP: Round<'static> = Round { challenge: "SRP_A", passed: true, label: None };
    const PASSWORD: Round<'static> = Round { challenge: "PASSWORD_VERIFIER", passed: true, label: None };

    fn custom(label: &'static str, passed: bool) -> Round<'static> {
        Round { challenge: CUSTOM_CHALLENGE, passed, label: Some(label) }
    }

    #[test]
    fn the_password_then_our_rounds() {
        use Decision::*;
        let sms = "SMS:twilio:VE1";
        let silent = "SILENT:truid";
        let cases: Vec<(Vec<Round<'static>>, Decision)> = vec![
            (vec![], Fail),
            (vec![SRP], Challenge("PASSWORD_VERIFIER")),
            (vec![SRP, PASSWORD], Challenge(CUSTOM_CHALLENGE)),
            (vec![SRP, Round { passed: false, ..PASSWORD }], Fail),
            (vec![SRP, PASSWORD, custom(sms, true)], IssueTokens),
            (vec![SRP, PASSWORD, custom(silent, true)], IssueTokens),
            (vec![SRP, PASSWORD, custom(silent, false)], Challenge(CUSTOM_CHALLENGE)),
            (vec![SRP, PASSWORD, custom(silent, false), custom(sms, true)], IssueTokens),
            (vec![SRP, PASSWORD, custom(sms, false), custom(sms, false)], Challenge(CUSTOM_CHALLENGE)),
            (vec![SRP, PASSWORD, custom(sms, false), custom(sms, false), custom(sms, false)], Fail),
            (vec![SRP, PASSWORD, custom("BLOCKED:sim_changed", false)], Fail),
            (vec![SRP, PASSWORD, custom("whatever", true)], Fail),
            (vec![SRP, PASSWORD, Round { challenge: CUSTOM_CHALLENGE, passed: true, label: None }], Fail),
            // Skipping the password, or a round that is not ours, never gets tokens.
            (vec![Round { challenge: CUSTOM_CHALLENGE, passed: true, label: Some(sms) }], Fail),
            (vec![SRP, PASSWORD, Round { challenge: "SMS_MFA", passed: true, label: None }], Fail),
            (vec![PASSWORD, custom(sms, true)], Fail),
        ];
        for (rounds, want) in cases {
            assert_eq!(decide(&rounds, false), want, "{rounds:?}");
        }
        assert_eq!(decide(&[SRP, PASSWORD, custom(sms, true)], true), Fail, "an unknown user never");
        assert_eq!(decide(&[SRP], true), Challenge("PASSWORD_VERIFIER"), "asked like anyone, then failed");
        assert_eq!(decide(&[SRP, PASSWORD], true), Fail);
        let many = vec![SRP, PASSWORD, custom(silent, false), custom(silent, false), custom(silent, false)];
        assert_eq!(decide(&many[..4], false), Challenge(CUSTOM_CHALLENGE));
        assert_eq!(decide(&[many.clone(), vec![custom(silent, false), custom(silent, false)]].concat(), false), Fail);
    }

    #[test]
    fn labels_round_trip_and_nothing_else_reads() {
        for label in [
            RoundLabel::Silent { provider: "truid".into() },
            RoundLabel::Sms { provider: "vonage-v2".into(), reference: "c11236f4-00bf-4b89-84ba-88b25df97315".into() },
            RoundLabel::Blocked { reason: "sim_changed".into() },
        ] {
            assert_eq!(RoundLabel::decode(&label.encode()), Some(label));
        }
        for junk in ["", "SMS", "SMS:", "SMS:twilio", "SMS::x", "SILENT:", "BLOCKED:", "OK:x"] {
            assert_eq!(RoundLabel::decode(junk), None, "{junk}");
        }
    }
}

//! The verification API's result tokens (ES256 JWTs): what a relying site checks, and every forgery
//! it must refuse — another site's token, an expired one, a tampered one, `alg: none`, HS256 signed
//! with the public key, an unknown key — and a key rollover during which both keys are published.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use simguard::adapters::result_tokens::{KeyError, ResultTokens, SigningKey, TokenError, generate_key};
use simguard::domain::result_token::{ProofMethod, Purpose, ResultClaims, SimChangeVerdict};

const ISS: &str = "https://app.example";
const NOW: i64 = 1_800_000_000;

fn claims(aud: &str) -> ResultClaims {
    ResultClaims {
        iss: ISS.into(),
        aud: aud.into(),
        sub: "ver_0123".into(),
        phone_hash: "h".into(),
        purpose: Purpose::Recovery,
        method: ProofMethod::Silent,
        sim_change: SimChangeVerdict::NotChanged,
        iat: NOW,
        exp: NOW + ResultClaims::LIFE_SECS,
        jti: "jti-1".into(),
    }
}

fn key(kid: &str, active: bool) -> SigningKey {
    generate_key(kid, active).expect("key")
}

#[test]
fn a_token_is_accepted_only_as_issued() {
    let tokens = ResultTokens::new(ISS, &[key("k1", true)]).expect("keys");
    let token = tokens.sign(&claims("site-a")).expect("signed");
    assert_eq!(tokens.verify(&token, "site-a", NOW + 10), Ok(claims("site-a")));
    // Another site's token.
    assert_eq!(tokens.verify(&token, "site-b", NOW + 10), Err(TokenError::Invalid));
    // Expired, or from the future.
    assert_eq!(tokens.verify(&token, "site-a", NOW + ResultClaims::LIFE_SECS), Err(TokenError::Expired));
    assert_eq!(tokens.verify(&token, "site-a", NOW - 1), Err(TokenError::Expired));
    // Tampered: the payload changed, the signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims("site-a");
    forged.method = ProofMethod::Sms;
    forged.sub = "ver_other".into();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"));
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(tokens.verify(&tampered, "site-a", NOW + 10), Err(TokenError::Invalid));
    // Garbage.
    for junk in ["", "a.b.c", "not a token", &token[..token.len() - 3]] {
        assert_eq!(tokens.verify(junk, "site-a", NOW + 10), Err(TokenError::Invalid), "{junk}");
    }
}

#[test]
fn algorithm_confusion_is_refused() {
    let ours = key("k1", true);
    let tokens = ResultTokens::new(ISS, std::slice::from_ref(&ours)).expect("keys");
    let jwks = tokens.jwks();
    let jwk = &jwks["keys"][0];
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("site-a")).expect("json"));
    // `alg: none`, no signature.
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    for token in [format!("{none_header}.{payload}."), format!("{none_header}.{payload}")] {
        assert_eq!(tokens.verify(&token, "site-a", NOW + 10), Err(TokenError::Invalid));
    }
    // HS256 with the public key as the HMAC secret (every public form of it).
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().expect("x")).expect("b64");
    let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().expect("y")).expect("b64");
    let point = [&[4u8][..], &x, &y].concat();
    for secret in [point, jwk.to_string().into_bytes(), jwks.to_string().into_bytes()] {
        let header = jsonwebtoken::Header {
            kid: Some("k1".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        };
        let hs = jsonwebtoken::encode(&header, &claims("site-a"), &jsonwebtoken::EncodingKey::from_secret(&secret))
            .expect("hs256");
        assert_eq!(tokens.verify(&hs, "site-a", NOW + 10), Err(TokenError::Invalid));
    }
    // Signed by a key that is not ours, even under our kid.
    let stranger = ResultTokens::new(ISS, &[key("k1", true)]).expect("keys");
    let foreign = stranger.sign(&claims("site-a")).expect("signed");
    assert_eq!(tokens.verify(&foreign, "site-a", NOW + 10), Err(TokenError::Invalid));
    // Another issuer's claims, signed by our own key.
    let other_issuer = ResultTokens::new("https://elsewhere.example", &[ours]).expect("keys");
    let mut theirs = claims("site-a");
    theirs.iss = "https://elsewhere.example".into();
    let token = other_issuer.sign(&theirs).expect("signed");
    assert_eq!(tokens.verify(&token, "site-a", NOW + 10), Err(TokenError::Invalid));
    // A lifetime longer than ours.
    let mut long = claims("site-a");
    long.exp = NOW + 3600;
    let token = tokens.sign(&long).expect("signed");
    assert_eq!(tokens.verify(&token, "site-a", NOW + 10), Err(TokenError::Expired));
}

/// A rollover: the next key is published before it signs, and the old one stays published until the
/// last token it signed has expired.
#[test]
fn a_key_rollover_publishes_both_keys() {
    let (old_active, new_published) = (key("2026-11", true), key("2026-12", false));
    let before = ResultTokens::new(ISS, &[old_active.clone(), new_published.clone()]).expect("keys");
    let by_old = before.sign(&claims("site-a")).expect("signed");
    let kids = |t: &ResultTokens| -> Vec<String> {
        t.jwks()["keys"].as_array().expect("keys").iter().map(|k| k["kid"].as_str().expect("kid").to_owned()).collect()
    };
    assert_eq!(kids(&before), ["2026-11", "2026-12"]);
    for k in before.jwks()["keys"].as_array().expect("keys") {
        assert_eq!(
            (k["kty"].as_str(), k["crv"].as_str(), k["alg"].as_str()),
            (Some("EC"), Some("P-256"), Some("ES256"))
        );
        assert!(k.get("d").is_none(), "no private part is ever published");
    }
    // The switch: the new key signs, the old one is still published.
    let after = ResultTokens::new(
        ISS,
        &[SigningKey { active: false, ..old_active }, SigningKey { active: true, ..new_published }],
    )
    .expect("keys");
    let by_new = after.sign(&claims("site-a")).expect("signed");
    assert_eq!(after.verify(&by_old, "site-a", NOW + 10), Ok(claims("site-a")));
    assert_eq!(after.verify(&by_new, "site-a", NOW + 10), Ok(claims("site-a")));
    let header = jsonwebtoken::decode_header(&by_new).expect("header");
    assert_eq!(header.kid.as_deref(), Some("2026-12"));
    // Once the old key is gone, its tokens are too.
    let later = ResultTokens::new(ISS, &[key("2026-12b", true)]).expect("keys");
    assert_eq!(later.verify(&by_old, "site-a", NOW + 10), Err(TokenError::Invalid));
}

#[test]
fn the_keys_are_checked() {
    assert_eq!(ResultTokens::new(ISS, &[key("a", false)]).err(), Some(KeyError::ActiveCount));
    assert_eq!(ResultTokens::new(ISS, &[key("a", true), key("b", true)]).err(), Some(KeyError::ActiveCount));
    assert_eq!(ResultTokens::new(ISS, &[key("a", true), key("a", false)]).err(), Some(KeyError::Kid));
    let broken = SigningKey { kid: "x".into(), pkcs8: vec![1u8, 2, 3].into(), active: true };
    assert_eq!(ResultTokens::new(ISS, &[broken]).err(), Some(KeyError::Invalid("x".into())));
}

//! The Wycheproof JWS and JWK vectors (C2SP/wycheproof, Apache-2.0; copied under
//! `tests/fixtures/wycheproof/`) replayed against braid's upstream token verifier: keys pinned to
//! one algorithm each, strict compact parsing. Every `valid` vector must verify (payload equal
//! to the middle segment) and every `invalid` one must be refused, except the documented
//! deviations below, where braid is deliberately stricter.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use braid::upstream::jose::PinnedKeys;
use serde_json::Value;

/// (file, tcId, why braid refuses a vector Wycheproof calls valid).
const STRICTER: &[(&str, u64, &str)] = &[
    ("json_web_signature_test.json", 346, "key says PS256, token says PS384: braid pins the algorithm to the key"),
    ("json_web_signature_test.json", 350, "key says PS256, token says PS384: braid pins the algorithm to the key"),
    ("json_web_signature_test.json", 347, "ES512 (P-521) is not offered by braid's verifier"),
    ("json_web_signature_test.json", 351, "ES512 (P-521) is not offered by braid's verifier"),
    (
        "json_web_signature_test.json",
        372,
        "`?` inside a segment: RFC 7515 §5.2 forbids extra characters; braid rejects",
    ),
    (
        "json_web_signature_test.json",
        373,
        "`?` inside a segment: RFC 7515 §5.2 forbids extra characters; braid rejects",
    ),
];

/// (file, tcId, tcId of a byte-identical vector with the opposite expectation): contradictory
/// vectors; braid must give them the same answer as their twin.
const CONTRADICTORY: &[(&str, u64, u64)] =
    &[("json_web_signature_test.json", 367, 357), ("json_web_signature_test.json", 370, 357)];

fn load(file: &str) -> Value {
    let path = format!("{}/tests/fixtures/wycheproof/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture present")).expect("fixture parses")
}

/// Replay one vector file; returns (accepted valid, refused invalid, mismatches).
fn replay(file: &str) -> (usize, usize, Vec<String>) {
    let doc = load(file);
    let (mut accepted, mut refused, mut mismatches) = (0, 0, Vec::new());
    let all: Vec<&Value> =
        doc["testGroups"].as_array().unwrap().iter().flat_map(|g| g["tests"].as_array().unwrap()).collect();
    let jws_of = |id: u64| all.iter().find(|t| t["tcId"].as_u64() == Some(id)).map(|t| t["jws"].clone());
    for group in doc["testGroups"].as_array().unwrap() {
        let key_doc = group.get("public").unwrap_or(&group["private"]);
        let keys = PinnedKeys::from_jwks(key_doc, true);
        for t in group["tests"].as_array().unwrap() {
            let id = t["tcId"].as_u64().unwrap();
            let mut expected_valid = t["result"] == "valid";
            if let Some((_, _, twin)) = CONTRADICTORY.iter().find(|(f, tc, _)| *f == file && *tc == id) {
                assert_eq!(jws_of(*twin), Some(t["jws"].clone()), "tcId {id} is byte-identical to tcId {twin}");
                expected_valid = !expected_valid;
            }
            let got = match t["jws"].as_str() {
                Some(jws) => keys.verify(jws).map(|v| (v, jws.split('.').nth(1).unwrap_or_default().to_owned())),
                // JSON serialization: braid speaks only the compact form.
                None => Err(braid::upstream::jose::JoseError::Malformed),
            };
            let ok = match &got {
                Ok((v, middle)) => URL_SAFE_NO_PAD.decode(middle).ok().as_deref() == Some(v.payload.as_slice()),
                Err(_) => false,
            };
            let stricter = STRICTER.iter().any(|(f, tc, _)| *f == file && *tc == id);
            match (expected_valid, ok, stricter) {
                (true, true, false) => accepted += 1,
                (false, false, _) => refused += 1,
                (true, false, true) => refused += 1,
                _ => mismatches.push(format!(
                    "{file} tcId {id} ({}): expected {}, got {:?}",
                    t["comment"],
                    t["result"],
                    got.err()
                )),
            }
        }
    }
    (accepted, refused, mismatches)
}

#[test]
fn wycheproof_jws_vectors_give_the_expected_result() {
    let (accepted, refused, mismatches) = replay("json_web_signature_test.json");
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
    assert!(accepted >= 40, "valid vectors accepted: {accepted}");
    assert!(refused >= 300, "invalid vectors refused: {refused}");
}

#[test]
fn wycheproof_jwk_vectors_give_the_expected_result() {
    let (accepted, refused, mismatches) = replay("json_web_key_test.json");
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
    assert!(accepted + refused >= 20);
}

//! The SAML gate (`upstream::saml::gate`) against public attack fixtures and constructed inputs:
//! signature wrapping, several assertions, other documents posing as a response, DTDs and
//! entities, comments, oversized messages, weak algorithms. Everything refused here never
//! reaches an XML-signature library.

use braid::upstream::saml::gate::{self, GateError, Limits};

fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/saml/{path}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    if raw.trim_start().starts_with('<') {
        raw
    } else {
        gate::decode_post(&raw, Limits::default()).expect("fixture decodes")
    }
}

#[test]
fn a_plain_signed_response_passes_the_gate() {
    // crewjam's Google response: Response signed with rsa-sha256, assertion unsigned.
    let shape = gate::check_response(&fixture("crewjam/TestSPRejectsInjectedComment_response"), false).unwrap();
    assert!(shape.response_signed && !shape.assertion_signed && !shape.encrypted);
    assert!(shape.assertion_id.is_some());
}

#[test]
fn sha1_signatures_are_refused_unless_replaying_dated_fixtures() {
    let onelogin = fixture("crewjam/TestSPCanHandleOneloginResponse_response");
    assert!(matches!(gate::check_response(&onelogin, false), Err(GateError::SignaturePolicy(m)) if m.contains("sha1")));
    assert!(gate::check_response(&onelogin, true).is_ok(), "the legacy switch exists for dated fixtures only");
}

#[test]
fn pysaml2_signature_wrapping_variants_are_refused() {
    for f in [
        "signed-xsw-assertion-assertion.xml",
        "signed-xsw-assertion-extensions.xml",
        "signed-xsw-assertion-in-assertion-first-sig.xml",
        "signed-xsw-assertion-wrapper.xml",
        "signed-xsw-response-in-response-first-sig.xml",
    ] {
        let r = gate::check_response(&fixture(&format!("pysaml2-xsw/{f}")), true);
        assert!(matches!(r, Err(GateError::Structure(_) | GateError::SignaturePolicy(_))), "{f}: {r:?}");
    }
}

#[test]
fn crewjam_signature_wrapping_permutations_are_refused() {
    for n in ["One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"] {
        let f = format!("crewjam/TestXswPermutation{n}IsRejected_response");
        let r = gate::check_response(&fixture(&f), true);
        assert!(r.is_err(), "XSW {n} must not pass the gate: {r:?}");
    }
}

#[test]
fn several_assertions_are_refused() {
    let r = gate::check_response(&fixture("python3-saml/multiple_assertions.xml.base64"), true);
    assert!(matches!(r, Err(GateError::Structure(ref m)) if m.contains("assertions")), "{r:?}");
    // crewjam's two assertions also share one ID: refused for that first.
    let r = gate::check_response(&fixture("crewjam/TestSPMultipleAssertions"), true);
    assert_eq!(r, Err(GateError::Structure("duplicate ID".into())));
    for f in ["python3-saml/signature_wrapping_attack.xml.base64", "python3-saml/signature_wrapping_attack2.xml.base64"]
    {
        assert!(gate::check_response(&fixture(f), true).is_err(), "{f}");
    }
}

#[test]
fn another_document_posing_as_a_response_is_refused() {
    let logout = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x" Version="2.0"/>"#;
    assert!(matches!(gate::check_response(logout, false), Err(GateError::Structure(_))));
    let metadata = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>"#;
    assert!(matches!(gate::check_response(metadata, false), Err(GateError::Structure(_))));
}

#[test]
fn dtds_entities_and_billion_laughs_are_refused_before_parsing() {
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="a">&x;</samlp:Response>"#;
    assert_eq!(gate::check_response(xxe, false), Err(GateError::Forbidden("DOCTYPE")));
    let mut laughs = String::from("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        laughs.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&lol{};", if i == 1 { String::new() } else { (i - 1).to_string() }).repeat(10)
        ));
    }
    laughs.push_str("]><r>&lol9;</r>");
    assert_eq!(gate::check_response(&laughs, false), Err(GateError::Forbidden("DOCTYPE")));
    let pi = r#"<?xml version="1.0"?><?xml-stylesheet href="x"?><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="a"/>"#;
    assert_eq!(gate::check_response(pi, false), Err(GateError::Forbidden("processing instruction")));
}

#[test]
fn a_comment_injected_into_the_name_id_is_refused() {
    let good = fixture("crewjam/TestSPRejectsInjectedComment_response");
    let injected = good.replacen("ross@octolabs.io<", "ross@<!---->octolabs.io<", 1);
    assert_ne!(good, injected, "the fixture holds the NameID");
    assert_eq!(gate::check_response(&injected, false), Err(GateError::Forbidden("comment")));
    let cdata = good.replacen("ross@octolabs.io<", "<![CDATA[ross@octolabs.io]]><", 1);
    assert_eq!(gate::check_response(&cdata, false), Err(GateError::Forbidden("CDATA")));
}

#[test]
fn oversized_messages_are_refused_before_decoding() {
    let limits = Limits { max_encoded: 1024, max_xml: 700 };
    assert_eq!(gate::decode_post(&"A".repeat(1025), limits), Err(GateError::TooLarge));
    assert_eq!(
        gate::decode_post(&"QUFB".repeat(250), limits),
        Err(GateError::TooLarge),
        "decodes to more than max_xml"
    );
    assert!(matches!(gate::decode_post("not base64!", Limits::default()), Err(GateError::Malformed(_))));
}

#[test]
fn duplicate_ids_and_foreign_references_are_refused() {
    let good = fixture("crewjam/TestSPRejectsInjectedComment_response");
    let shape = gate::check_response(&good, false).unwrap();
    let assertion_id = shape.assertion_id.unwrap();
    // The response's signature made to point at the assertion instead of its own element.
    let moved = good.replacen(&format!("URI=\"#{}\"", shape.response_id), &format!("URI=\"#{assertion_id}\""), 1);
    assert!(matches!(gate::check_response(&moved, false), Err(GateError::SignaturePolicy(_))));
    let dup = good.replacen(&format!("ID=\"{assertion_id}\""), &format!("ID=\"{}\"", shape.response_id), 1);
    assert_eq!(gate::check_response(&dup, false), Err(GateError::Structure("duplicate ID".into())));
}

#[test]
fn only_utf8_may_be_declared() {
    let body = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="a"/>"#;
    for decl in [
        r#"<?xml version="1.0"?>"#,
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        "<?xml version='1.0' encoding = 'utf8'?>",
    ] {
        assert_eq!(gate::without_declaration(&format!("{decl}{body}")), Ok(body), "{decl}");
    }
    assert_eq!(gate::without_declaration(body), Ok(body));
    for decl in [
        r#"<?xml version="1.0" encoding="UTF-7"?>"#,
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>"#,
        r#"<?xml version="1.0" encoding="UTF-16"?>"#,
        r#"<?xml version="1.0" encoding=UTF-8?>"#,
        r#"<?xml version="1.0" encoding="UTF-8 "?>"#,
    ] {
        let xml = format!("{decl}{body}");
        assert_eq!(
            gate::without_declaration(&xml),
            Err(GateError::Forbidden("an encoding other than UTF-8")),
            "{decl}"
        );
        assert!(gate::check_response(&xml, false).is_err(), "{decl}");
    }
}

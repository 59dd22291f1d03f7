//! The shared SAML fixture corpus (crewjam/saml, python3-saml, pysaml2 XSW, samael; provenance in
//! `tests/fixtures/saml/README.md`) replayed through `verify_response` as pure calls, no HTTP (the
//! fixtures' ACS URLs are foreign): one row per fixture and profile, with the corpus README's
//! SP entity ID, ACS URL, IdP entity ID and certificate, request ID and pinned clock, and its
//! expected outcome, or braid's stricter one with the reason. Mutations of these fixtures are in
//! `saml_fixtures_mutations`.

use braid::upstream::saml::checks::{self, Asserted, Expect};
use braid::upstream::saml::gate::{self, Limits, NS_ASSERTION};
use braid::upstream::saml::metadata::parse_instant;
use braid::upstream::saml::verify::{Reject, VerifyInput, verify_response};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

/// The path of a fixture under `tests/fixtures/saml/`.
macro_rules! fx {
    ($p:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml/", $p)
    };
}
pub(crate) use fx;

/// A replay profile of the corpus README.
pub struct Profile {
    pub idp: &'static str,
    pub sp: &'static str,
    pub acs: &'static str,
    /// The IdP certificate (PEM, or DER).
    pub cert: &'static str,
    pub skew_ms: i64,
}

/// What a row expects of braid.
pub enum Want {
    /// ACCEPT, yielding this subject.
    Accept(&'static str),
    /// REJECT, as the corpus README expects; the `Reject` text contains this.
    Reject(&'static str),
    /// The README says ACCEPT (or leaves the choice); braid REJECTs by deliberate policy.
    /// (`Reject` text, why).
    Stricter(&'static str, &'static str),
}

/// One fixture replayed with one profile.
pub struct Row {
    pub file: &'static str,
    pub profile: &'static Profile,
    pub request_id: Option<&'static str>,
    /// The pinned clock (RFC 3339).
    pub now: &'static str,
    pub want: Want,
    /// Signed with SHA-1: replayed with `legacy_sha1`, and also REJECTED without it.
    pub sha1: bool,
    /// braid's SP key (PEM), for encrypted assertions.
    pub sp_key: Option<&'static str>,
    pub subject_attribute: Option<&'static str>,
    /// Another certificate than the profile's.
    pub cert: Option<&'static str>,
    /// An unsigned fixture: braid's checks on its unverified tree (the README's "run the check
    /// with signature enforcement switched off") must give this.
    pub checks: Option<Want>,
}

/// A row of the table: `file` replayed with `replay`, and the defaults (SHA-256, no SP key, the
/// NameID as subject, the profile's certificate).
pub const fn row(file: &'static str, replay: &Replay, want: Want) -> Row {
    custom(file, replay.profile, replay.request_id, replay.now, want)
}

/// A row with its own request ID and clock.
pub const fn custom(
    file: &'static str,
    profile: &'static Profile,
    request_id: Option<&'static str>,
    now: &'static str,
    want: Want,
) -> Row {
    Row {
        file,
        profile,
        request_id,
        now,
        want,
        sha1: false,
        sp_key: None,
        subject_attribute: None,
        cert: None,
        checks: None,
    }
}

impl Row {
    pub const fn sha1(mut self) -> Self {
        self.sha1 = true;
        self
    }
    pub const fn key(mut self, pem: &'static str) -> Self {
        self.sp_key = Some(pem);
        self
    }
    pub const fn attr(mut self, name: &'static str) -> Self {
        self.subject_attribute = Some(name);
        self
    }
    pub const fn cert(mut self, cert: &'static str) -> Self {
        self.cert = Some(cert);
        self
    }
    pub const fn checks(mut self, want: Want) -> Self {
        self.checks = Some(want);
        self
    }
    pub fn name(&self) -> &'static str {
        self.file.split("/tests/fixtures/saml/").nth(1).unwrap_or(self.file)
    }
}

/// A fixture's decoded XML: raw if it starts with `<`, else the base64 of a POSTed `SAMLResponse`.
pub fn read(path: &str) -> String {
    let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    if raw.trim_start().starts_with('<') {
        raw
    } else {
        gate::decode_post(&raw, Limits::default()).unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

/// A certificate's DER (from PEM, or DER as is).
pub fn der(path: &str) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match X509::from_pem(&bytes) {
        Ok(cert) => cert.to_der().unwrap(),
        Err(_) => X509::from_der(&bytes).unwrap_or_else(|e| panic!("{path}: {e}")).to_der().unwrap(),
    }
}

pub fn key(path: &str) -> PKey<Private> {
    PKey::private_key_from_pem(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn ms(rfc3339: &str) -> i64 {
    parse_instant(rfc3339).unwrap_or_else(|| panic!("bad pin {rfc3339}"))
}

pub fn expect(row: &Row) -> Expect<'static> {
    Expect {
        idp_entity_id: row.profile.idp,
        sp_entity_id: row.profile.sp,
        acs_url: row.profile.acs,
        request_id: row.request_id,
        now_ms: ms(row.now),
        skew_ms: row.profile.skew_ms,
        authn_after_ms: None,
        subject_attribute: row.subject_attribute,
        email_attribute: None,
        name_attribute: None,
    }
}

/// `verify_response` on `xml` with `row`'s settings.
pub fn verify(row: &Row, xml: &str, legacy_sha1: bool) -> Result<Asserted, Reject> {
    let certs = vec![der(row.cert.unwrap_or(row.profile.cert))];
    let sp_key = row.sp_key.map(key);
    let input = VerifyInput {
        certs: &certs,
        want_assertions_signed: false,
        sp_key: sp_key.as_ref(),
        // The fixtures' IdPs encrypt with AES-CBC: replayed as providers that allow it.
        allow_cbc: true,
        legacy_sha1,
        expect: expect(row),
    };
    verify_response(xml, &input)
}

/// braid's checks on the unverified tree of an unsigned response.
pub fn check_unverified(row: &Row, xml: &str) -> Result<Asserted, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let e = expect(row);
    checks::check_response(doc.root_element(), &e, false)?;
    let assertion = doc.root_element().children().find(|c| c.has_tag_name((NS_ASSERTION, "Assertion")));
    checks::check_assertion(assertion.ok_or("no Assertion")?, &e)
}

/// `None` if `got` is what `want` says, else why not.
pub fn judge<E: std::fmt::Display>(want: &Want, got: &Result<Asserted, E>) -> Option<String> {
    match (want, got) {
        (Want::Accept(subject), Ok(a)) if a.subject == *subject => None,
        (Want::Accept(subject), Ok(a)) => Some(format!("accepted with subject `{}`, not `{subject}`", a.subject)),
        (Want::Accept(_), Err(e)) => Some(format!("rejected: {e}")),
        (Want::Reject(text), Err(e)) => {
            (!e.to_string().contains(text)).then(|| format!("rejected, but not for `{text}`: {e}"))
        }
        (Want::Stricter(text, why), Err(e)) => {
            (!e.to_string().contains(text)).then(|| format!("rejected, but not for `{text}` ({why}): {e}"))
        }
        (Want::Reject(_), Ok(a)) => Some(format!("ACCEPTED (subject `{}`)", a.subject)),
        (Want::Stricter(_, why), Ok(a)) => Some(format!("ACCEPTED (subject `{}`), expected REJECT: {why}", a.subject)),
    }
}

/// Every check of one row; the failures, described.
pub fn run(row: &Row, xml: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let got = verify(row, xml, row.sha1);
    if let Some(f) = judge(&row.want, &got) {
        failures.push(format!("{}: {f}", row.name()));
    }
    if row.sha1 {
        match verify(row, xml, false) {
            Ok(_) => failures.push(format!("{}: accepted with SHA-1 under the default policy", row.name())),
            Err(e) if matches!(row.want, Want::Accept(_)) && !e.to_string().contains("sha1") => {
                failures.push(format!("{}: default policy rejected, but not for SHA-1: {e}", row.name()))
            }
            Err(_) => {}
        }
    }
    if let Some(want) = &row.checks
        && let Some(f) = judge(want, &check_unverified(row, xml))
    {
        failures.push(format!("{} (checks only): {f}", row.name()));
    }
    failures
}

const CRT_A: &str = fx!("python3-saml/customPath/certs/idp.crt");
const CRT_B: &str = fx!("python3-saml/derived/settings2-idp-x509cert.pem");
const CRT_C: &str = fx!("python3-saml/certs/certificate1");
const CRT_N: &str = fx!("python3-saml/derived/response_without_reference_uri.keyinfo-cert.pem");
const CRT_T: &str = fx!("pysaml2-xsw/test.pem");
const CRT_OL14: &str = fx!("crewjam/derived/TestServiceProviderCanHandleSignedAssertionsResponse_IDPMetadata.cert.pem");
const CRT_IDP1: &str = fx!("samael/test_vectors/idp_cert.der");
const CRT_IDP2: &str = fx!("samael/test_vectors/idp_2_metadata_public.pem");
/// python3-saml's SP key (the private key of cert A); every python3-saml encryption is to it.
const KEY_PS: &str = fx!("python3-saml/customPath/certs/sp.key");

const CRW: i64 = 180_000;
const PYS: i64 = 300_000;

pub const CJ_OL16: Profile = Profile {
    idp: "https://app.onelogin.com/saml/metadata/503983",
    sp: "https://29ee6d2e.ngrok.io/saml/metadata",
    acs: "https://29ee6d2e.ngrok.io/saml/acs",
    cert: fx!("crewjam/derived/TestSPCanHandleOneloginResponse_IDPMetadata.cert.pem"),
    skew_ms: CRW,
};
pub const CJ_OL14: Profile = Profile {
    idp: "http://idp.example.com/metadata.php",
    sp: "http://sp.example.com/demo1/metadata.php",
    acs: "http://sp.example.com/demo1/index.php?acs",
    cert: CRT_OL14,
    skew_ms: CRW,
};
pub const CJ_G: Profile = Profile {
    idp: "https://accounts.google.com/o/saml2?idpid=C02dfl1r1",
    sp: "https://29ee6d2e.ngrok.io/saml/metadata",
    acs: "https://29ee6d2e.ngrok.io/saml/acs",
    cert: fx!("crewjam/derived/TestSPRejectsInjectedComment_IDPMetadata.cert.pem"),
    skew_ms: CRW,
};
pub const CJ_SW: Profile = Profile {
    idp: "https://idp.secureworks.com/SAML2",
    sp: "https://preview.docrocket-ross.test.octolabs.io/saml/metadata",
    acs: "https://preview.docrocket-ross.test.octolabs.io/saml/acs",
    cert: fx!("crewjam/derived/TestSPRealWorldKeyInfoHasRSAPublicKeyNotX509Cert_idp_metadata.cert.pem"),
    skew_ms: CRW,
};
pub const CJ_TS: Profile = Profile {
    idp: "https://idp.testshib.org/idp/shibboleth",
    sp: "https://15661444.ngrok.io/saml2/metadata",
    acs: "https://15661444.ngrok.io/saml2/acs",
    cert: fx!("crewjam/derived/SP_IDPMetadata.cert.pem"),
    skew_ms: CRW,
};
/// CJ-TS's SP key and its one request.
pub const CJ_TS_KEY: &str = fx!("crewjam/sp_key.pem");
pub const CJ_TS_REQ: &str = "id-9e61753d64e928af5a7a341a97f420c9";
pub const CJ_TS_NOW: &str = "2015-12-01T01:57:09Z";
const OL14_REQ: &str = "ONELOGIN_4fee3b046395c4e751011e97f8900b5273d56685";
const OL14_NOW: &str = "2014-07-17T01:02:59Z";
const OL16_REQ: &str = "id-d40c15c104b52691eccf0a2a5c8a15595be75423";
const OL16_NOW: &str = "2016-01-05T17:53:12Z";

const PITBULK_IDP: &str = "https://pitbulk.no-ip.org/simplesaml/saml2/idp/metadata.php";
const PITBULK_ACS: &str = "https://pitbulk.no-ip.org/newonelogin/demo1/index.php?acs";
const STUFF_IDP: &str = "http://idp.example.com/";
const STUFF_SP: &str = "http://stuff.com/endpoints/metadata.php";
const PYTOOLKIT_SP: &str = "http://pytoolkit.com:8000/metadata/";
const PYTOOLKIT_ACS: &str = "http://pytoolkit.com:8000/?acs";

const PS1: Profile = Profile {
    idp: STUFF_IDP,
    sp: STUFF_SP,
    acs: "http://stuff.com/endpoints/endpoints/acs.php",
    cert: CRT_A,
    skew_ms: PYS,
};
const PS2: Profile = Profile { idp: STUFF_IDP, sp: STUFF_SP, acs: PITBULK_ACS, cert: CRT_A, skew_ms: PYS };
const PS3: Profile = Profile {
    idp: PITBULK_IDP,
    sp: "https://pitbulk.no-ip.org/newonelogin/demo1/metadata.php",
    acs: PITBULK_ACS,
    cert: CRT_A,
    skew_ms: PYS,
};
const PS4: Profile = Profile { idp: PITBULK_IDP, sp: STUFF_SP, acs: PITBULK_ACS, cert: CRT_A, skew_ms: PYS };
const PS5: Profile = Profile { idp: PITBULK_IDP, sp: PYTOOLKIT_SP, acs: PYTOOLKIT_ACS, cert: CRT_A, skew_ms: PYS };
const PS6: Profile = Profile {
    idp: "https://idp.example.com/simplesaml/saml2/idp/metadata.php",
    sp: PYTOOLKIT_SP,
    acs: PYTOOLKIT_ACS,
    cert: CRT_B,
    skew_ms: PYS,
};
const PS7: Profile = Profile {
    idp: "https://example.com/simplesaml/saml2/idp/metadata.php",
    sp: "https://example.com/newonelogin/demo1/metadata.php",
    acs: "https://example.com/newonelogin/demo1/index.php?acs",
    cert: CRT_A,
    skew_ms: PYS,
};
const PS8: Profile = Profile {
    idp: "https://app.onelogin.com/saml/metadata/13590",
    sp: "{audience}",
    acs: "{recipient}",
    cert: CRT_A,
    skew_ms: PYS,
};
const PS9: Profile = Profile {
    idp: "http://example.com",
    sp: "http://localhost:9001/",
    acs: "http://localhost:9001/v1/users/authorize/saml",
    cert: CRT_N,
    skew_ms: PYS,
};
const PS10: Profile = Profile {
    idp: "urn:mace:example.com:saml:roland:idp",
    sp: "urn:mace:example.com:saml:roland:sp",
    acs: "http://lingon.catalogix.se:8087/",
    cert: CRT_T,
    skew_ms: PYS,
};
const PS11: Profile =
    Profile { idp: "https://app.onelogin.com/saml2", sp: "audience", acs: "recipient", cert: CRT_C, skew_ms: PYS };
/// The README has no usable cert for PS12; A stands in (the fixture's only signature is not ours).
const PS12: Profile = Profile {
    idp: "https://idp/simplesaml/saml2/idp/metadata.php",
    sp: "php-saml-fixed",
    acs: "http://localhost/php-saml-fixed/consume.php",
    cert: CRT_A,
    skew_ms: PYS,
};
/// Error responses; the ACS keeps the fixtures' leading space (sic) so that only the status differs.
const PS13: Profile = Profile {
    idp: "http://idp.example.com/adfs/services/trust",
    sp: STUFF_SP,
    acs: " https://example.com/opensso/Consumer/metaAlias/sp",
    cert: CRT_A,
    skew_ms: PYS,
};

pub const PY: Profile = Profile {
    idp: "urn:mace:example.com:saml:roland:idp",
    sp: "urn:mace:example.com:saml:roland:sp",
    acs: "https://example.org/acs/post",
    cert: CRT_T,
    skew_ms: CRW,
};
pub const PY_REQ: &str = "id-abc";
pub const PY_NOW: &str = "2020-12-04T07:48:39Z";
const PY_NOW_FIRST_SIG: &str = "2020-09-14T22:38:02Z";

/// samael's SM-OL settings with the OL14 cert (the one that signed `response_signed*.xml`).
pub const SM_OL: Profile = Profile {
    idp: "http://idp.example.com/metadata.php",
    sp: "http://sp.example.com/demo1/metadata.php",
    acs: "http://sp.example.com/demo1/index.php?acs",
    cert: CRT_OL14,
    skew_ms: CRW,
};
pub const SM_REQ: &str = OL14_REQ;
pub const SM_NOW: &str = "2014-07-17T01:02:18Z";
const SM_IDP2: Profile = Profile {
    idp: "https://fujifish.github.io/samling/samling.html",
    sp: "http://test_accept_signed_with_correct_key.test",
    acs: "http://sp.example.com/demo1/index.php?acs",
    cert: CRT_IDP2,
    skew_ms: CRW,
};
const SM_MULTI: Profile = Profile {
    idp: "https://some.idp.test/blah/",
    sp: "https://sp.example.com",
    acs: "https://api.dev.zoo.dev/auth/saml/00000000-00000000-00000000-00000000/login",
    cert: fx!("samael/test_vectors/cert.pem"),
    skew_ms: CRW,
};
const SM_MULTI_NOW: &str = "2022-05-04T15:36:42Z";
/// samael's mock IdP has no signing certificate; braid always needs one (IDP2 stands in).
const SM_MOCK: Profile =
    Profile { idp: "saml-mock", sp: "example", acs: "http://localhost:8080/saml/acs", cert: CRT_IDP2, skew_ms: CRW };
const SM_MOCK_NOW: &str = "2025-03-04T21:09:31Z";
const SM_ATTACK: Profile = Profile {
    idp: "https://capriza.github.io/samling/samling.html",
    sp: "https://sp.example.com",
    acs: "ancestor",
    cert: CRT_IDP2,
    skew_ms: CRW,
};
const SM_ATTACK_NOW: &str = "2026-02-25T13:35:00Z";

use Want::{Accept, Reject as No, Stricter};

/// A profile with the request ID and pinned clock its fixtures replay with.
pub struct Replay {
    pub profile: &'static Profile,
    pub request_id: Option<&'static str>,
    pub now: &'static str,
}

const fn at(profile: &'static Profile, request_id: Option<&'static str>, now: &'static str) -> Replay {
    Replay { profile, request_id, now }
}

const OL16: Replay = at(&CJ_OL16, Some(OL16_REQ), OL16_NOW);
const OL14: Replay = at(&CJ_OL14, Some(OL14_REQ), OL14_NOW);
const G: Replay = at(&CJ_G, Some("id-fd419a5ab0472645427f8e07d87a3a5dd0b2e9a6"), "2016-01-05T16:55:39Z");
const SW: Replay = at(&CJ_SW, Some("id-3992f74e652d89c3cf1efd6c7e472abaac9bc917"), "2017-04-21T13:12:51Z");
const TS: Replay = at(&CJ_TS, Some(CJ_TS_REQ), CJ_TS_NOW);

const PS_REQ: &str = "ONELOGIN_5fe9d6e499b2f0913206aab3f7191729049bb807";
const PS_NOW: &str = "2014-02-19T01:37:31Z";
const PS1_57BC: Replay = at(&PS1, Some("_57bcbf70-7b1f-012e-c821-782bcb13bb38"), "2011-06-17T14:54:44Z");
const PS1_57BC_2015: Replay = at(&PS1, Some("_57bcbf70-7b1f-012e-c821-782bcb13bb38"), "2015-06-17T00:00:00Z");
const PS1_F292: Replay = at(&PS1, Some("ONELOGIN_f29234e72aca6ed5cc02112d21a382191cc79f6f"), "2014-03-30T20:39:49Z");
const PS1_2008: Replay = at(&PS1, None, "2008-12-10T14:12:44Z");
const PS2_5FE9: Replay = at(&PS2, Some(PS_REQ), PS_NOW);
const PS3_5FE9: Replay = at(&PS3, Some(PS_REQ), PS_NOW);
const PS3_191C: Replay = at(&PS3, Some("ONELOGIN_191c03e68d71d9796f5e07e6262ca4ad883a74b1"), "2014-03-21T13:43:01Z");
const PS3_5D9E: Replay = at(&PS3, Some("ONELOGIN_5d9e319c1b8a67da48227964c28d280e7860f804"), "2014-03-21T13:41:39Z");
const PS3_612B: Replay = at(&PS3, Some("ONELOGIN_612bbf9b1645294aa0b4637b1bc5f39de8b79ceb"), "2014-03-31T00:37:46Z");
const PS3_BF37: Replay = at(&PS3, Some("ONELOGIN_bf372b9d67d0c89d0cf1af3ff625ea7c051c9885"), "2014-03-09T12:24:07Z");
const PS4_BF37: Replay = at(&PS4, Some("ONELOGIN_bf372b9d67d0c89d0cf1af3ff625ea7c051c9885"), "2014-03-09T12:24:07Z");
const PS4_6BFF: Replay = at(&PS4, Some("ONELOGIN_6bffb4ef837600e0676cb21f4f0aa4bad94dd962"), "2014-03-30T20:49:14Z");
const PS4_FCE1: Replay = at(&PS4, Some("ONELOGIN_fce1cbffcdea0349be780a97a37ef06862688c0c"), "2014-03-30T20:48:01Z");
const PS5_99FB: Replay = at(&PS5, Some("ONELOGIN_99fb7b9d896347fce1212d1924d4473b5472f2a9"), "2014-09-22T16:33:45Z");
const PS6_030D: Replay = at(&PS6, Some("ONELOGIN_030d5b1ce6d5938444d24d42ce91ec490e5001c7"), "2014-09-24T00:17:29Z");
const PS6_52E8: Replay = at(&PS6, Some("ONELOGIN_52e8cbdc48cd77ffc70b8eb6181ba0a5c7e5a4bc"), "2014-09-23T12:47:01Z");
const PS6_0133: Replay = at(&PS6, Some("ONELOGIN_01335ee15b2276e550e333a503b337442366c06c"), "2014-09-23T12:45:50Z");
const PS6_E40B: Replay = at(&PS6, Some("ONELOGIN_e40b50138006a83f78840c4bb4526704948d6dcd"), "2014-09-23T12:39:57Z");
const PS6_FD78: Replay = at(&PS6, Some("ONELOGIN_fd78d8a622d0010771932870724f3843816d398a"), "2014-09-24T00:50:19Z");
const PS6_5580: Replay = at(&PS6, Some("ONELOGIN_5580b8a5671ca4b636527564b8aee7e7aa6dd385"), "2014-09-24T00:41:38Z");
const PS6_81A6: Replay = at(&PS6, Some("ONELOGIN_81a68cab14e71ac3b771cb07ba125682e8939d80"), "2014-09-24T00:40:28Z");
const PS7_5FE9: Replay = at(&PS7, Some(PS_REQ), PS_NOW);
const PS7_AF3D: Replay = at(&PS7, Some("ONELOGIN_af3d4a710fc8b305884b96d0094ab628802f5692"), "2014-02-19T01:06:19Z");
const PS7_AF3D_LATE: Replay =
    at(&PS7, Some("ONELOGIN_af3d4a710fc8b305884b96d0094ab628802f5692"), "2014-02-19T01:20:00Z");
const PS8_NONE: Replay = at(&PS8, None, "2010-11-18T21:58:07Z");
const PS9_ED91: Replay = at(&PS9, Some("_ed915a40-74fb-0132-5b16-48e0eb14a1c7"), "2015-01-02T22:49:18Z");
const PS10_ID12: Replay = at(&PS10, Some("id12"), "2019-12-20T12:15:46Z");
const PS11_NONE: Replay = at(&PS11, None, "2011-06-04T02:22:32Z");
const PS12_3244: Replay = at(&PS12, Some("_32442a8c3d1ba8ea136c"), "2011-06-13T16:02:55Z");
const PS13_S212: Replay = at(&PS13, Some("s21203b27d38d0a07ea2c713e7a0045cf8d1e32811"), "2011-08-24T16:37:00Z");

const PY_ABC: Replay = at(&PY, Some(PY_REQ), PY_NOW);
const PY_ABC_FIRST_SIG: Replay = at(&PY, Some(PY_REQ), PY_NOW_FIRST_SIG);

const SM: Replay = at(&SM_OL, Some(SM_REQ), SM_NOW);
const SM_2: Replay = at(&SM_IDP2, Some(SM_REQ), SM_NOW);
const SM_M: Replay = at(&SM_MULTI, None, SM_MULTI_NOW);
const SM_E: Replay = at(&SM_MOCK, Some("example"), SM_MOCK_NOW);
const SM_A: Replay = at(&SM_ATTACK, None, SM_ATTACK_NOW);

const PS_NAMEID: &str = "492882615acf31c8096b627245d76ae53036c090";
const PS6_NAMEID: &str = "25ddd7d34a7d79db69167625cda56a320adf2876";
const CRT_EC: &str = fx!("samael/test_vectors/ec_cert.pem");
const KEY_SM: &str = fx!("samael/test_vectors/sp_private.pem");
const UID: &str = "urn:oid:0.9.2342.19200300.100.1.1";

// Expected `Reject` texts.
const TRANSIENT: &str = "the NameID is transient";
const UNSIGNED: &str = "unsigned: neither";
const SIG: &str = "signature: ";
const SIG_POLICY: &str = "signature policy";
const TWO: &str = "2 assertions";
const DUP: &str = "duplicate ID";
const NOT_RESPONSE: &str = "not a SAML Response";
const SCD: &str = "no bearer SubjectConfirmation";
const RSA15: &str = "key transport `http://www.w3.org/2001/04/xmlenc#rsa-1_5` is not accepted";
const EMPTY_REF: &str = "the reference does not name";

// Why braid is stricter than the README.
const WHY_TRANSIENT: &str = "a transient NameID is never an identity key (the `subject_attribute` row proves the rest)";
const WHY_NCNAME: &str = "its Response ID `28338c8c-…` starts with a digit, so it is no xs:ID (NCName): samael refuses \
                          the document before verifying (XmlInvalidIdAttribute); README: ACCEPT as \
                          rkinder@secureworks.com";
const WHY_TWO: &str = "more than one assertion (two share an ID); crewjam returns the signed one";
const WHY_RSA15: &str = "the content key is wrapped with RSA PKCS#1 v1.5 (Bleichenbacher): braid unwraps RSA-OAEP only";
const WHY_EMPTY_REF: &str = "deliberate deviation: braid requires Reference URI=\"#<ID>\", never \"\" (the whole \
                             document), even for a signature on the root";
const WHY_EMPTY_REF_ASSERTION: &str = "the README leaves the choice: URI=\"\" in an Assertion's signature signs the \
                                       document, not the Assertion";
const WHY_HELLO: &str = "the README calls it valid but for the signature; its NameID has SPNameQualifier `hello.com`";
const WHY_SPNQ: &str = "its NameID's SPNameQualifier is `http://sp.example.com/demo1/metadata.php` while its Audience \
                        is `http://test_accept_signed_with_correct_key.test`: no SP entity ID satisfies both. The \
                        check runs after the signature verified (a wrong key fails earlier, see the IDP1 row)";
const WHY_NO_AUDIENCE: &str = "the Web SSO profile requires an audience on a bearer assertion; samael accepts";

/// Every message of the corpus, each with the README's replay (keys, certificates and metadata
/// come in through the profiles; mutations are in `saml_fixtures_mutations`).
pub const ROWS: &[Row] = &[
    // crewjam/saml (README §1).
    row(fx!("crewjam/TestSPCanHandleOneloginResponse_response"), &OL16, Accept("ross@kndr.org")).sha1(),
    row(
        fx!("crewjam/TestServiceProviderCanHandleSignedAssertionsResponse_response"),
        &OL14,
        Stricter(TRANSIENT, WHY_TRANSIENT),
    )
    .sha1(),
    row(fx!("crewjam/TestServiceProviderCanHandleSignedAssertionsResponse_response"), &OL14, Accept("test"))
        .sha1()
        .attr("uid"),
    row(fx!("crewjam/TestSPRejectsInjectedComment_response"), &G, Accept("ross@octolabs.io")),
    row(fx!("crewjam/TestSPRealWorldKeyInfoHasRSAPublicKeyNotX509Cert_response"), &SW, Stricter(SIG, WHY_NCNAME))
        .sha1(),
    row(fx!("crewjam/SP_SamlResponse"), &TS, Stricter(TRANSIENT, WHY_TRANSIENT)).key(CJ_TS_KEY),
    row(fx!("crewjam/SP_SamlResponse"), &TS, Accept("myself")).key(CJ_TS_KEY).attr(UID),
    row(fx!("crewjam/TestSPMultipleAssertions"), &SW, Stricter(DUP, WHY_TWO)).sha1(),
    row(fx!("crewjam/TestXswPermutationOneIsRejected_response"), &OL16, No(DUP)).sha1(),
    row(fx!("crewjam/TestXswPermutationTwoIsRejected_response"), &OL16, No(DUP)).sha1(),
    row(fx!("crewjam/TestXswPermutationThreeIsRejected_response"), &OL14, No(TWO)).sha1(),
    row(fx!("crewjam/TestXswPermutationFourIsRejected_response"), &OL14, No(TWO)).sha1(),
    row(fx!("crewjam/TestXswPermutationFiveIsRejected_response"), &OL14, No(TWO)).sha1(),
    row(fx!("crewjam/TestXswPermutationSixIsRejected_response"), &OL14, No(TWO)).sha1(),
    row(fx!("crewjam/TestXswPermutationSevenIsRejected_response"), &OL14, No(DUP)).sha1(),
    row(fx!("crewjam/TestXswPermutationEightIsRejected_response"), &OL14, No(DUP)).sha1(),
    row(fx!("crewjam/TestXswPermutationNineIsRejected_response"), &OL14, No(TWO)).sha1(),
    // python3-saml, signature-valid responses and security extras (README §2).
    row(fx!("python3-saml/valid_response.xml.base64"), &PS2_5FE9, Accept(PS_NAMEID)).sha1(),
    row(fx!("python3-saml/valid_response_with_namequalifier.xml.base64"), &PS2_5FE9, Accept(PS_NAMEID)).sha1(),
    row(fx!("python3-saml/valid_response_without_inresponseto.xml.base64"), &PS3_5FE9, Accept(PS_NAMEID)).sha1(),
    row(fx!("python3-saml/double_signed_response.xml.base64"), &PS3_191C, Stricter(TRANSIENT, WHY_TRANSIENT)).sha1(),
    row(fx!("python3-saml/double_signed_response.xml.base64"), &PS3_191C, Accept("test")).sha1().attr("uid"),
    row(fx!("python3-saml/signed_message_response.xml.base64"), &PS3_5D9E, Stricter(TRANSIENT, WHY_TRANSIENT)).sha1(),
    row(fx!("python3-saml/signed_message_response.xml.base64"), &PS3_5D9E, Accept("test")).sha1().attr("uid"),
    row(fx!("python3-saml/signed_assertion_response.xml.base64"), &PS3_612B, Stricter(TRANSIENT, WHY_TRANSIENT)).sha1(),
    row(fx!("python3-saml/signed_assertion_response.xml.base64"), &PS3_612B, Accept("test")).sha1().attr("uid"),
    // The README rejects these three for their content (no Recipient; issuers differ); braid
    // refuses their key transport first (`saml_fixtures_mutations` re-wraps the first).
    row(fx!("python3-saml/signed_encrypted_assertion.xml.base64"), &PS1_F292, No(RSA15)).sha1().key(KEY_PS),
    row(fx!("python3-saml/double_signed_encrypted_assertion.xml.base64"), &PS4_6BFF, No(RSA15)).sha1().key(KEY_PS),
    row(fx!("python3-saml/signed_message_encrypted_assertion.xml.base64"), &PS4_FCE1, No(RSA15)).sha1().key(KEY_PS),
    row(
        fx!("python3-saml/valid_encrypted_assertion_encrypted_nameid.xml.base64"),
        &PS5_99FB,
        Stricter(RSA15, WHY_RSA15),
    )
    .sha1()
    .key(KEY_PS),
    // PS8's literal placeholders, unsolicited: the README's "accept only with the placeholder settings".
    row(fx!("python3-saml/response1_with_friendlyname.xml.base64"), &PS8_NONE, Accept("support@onelogin.com")).sha1(),
    row(fx!("python3-saml/valid_response2.xml.base64"), &PS6_030D, Accept(PS6_NAMEID)).sha1(),
    row(fx!("python3-saml/double_signed_response2.xml.base64"), &PS6_52E8, Accept(PS6_NAMEID)).sha1(),
    row(fx!("python3-saml/signed_assertion_response2.xml.base64"), &PS6_0133, Accept(PS6_NAMEID)).sha1(),
    row(fx!("python3-saml/double_signed_encrypted_assertion2.xml.base64"), &PS6_FD78, Accept(PS6_NAMEID))
        .sha1()
        .key(KEY_PS),
    row(fx!("python3-saml/signed_encrypted_assertion2.xml.base64"), &PS6_5580, Accept(PS6_NAMEID)).sha1().key(KEY_PS),
    row(fx!("python3-saml/signed_message_encrypted_assertion2.xml.base64"), &PS6_81A6, Accept(PS6_NAMEID))
        .sha1()
        .key(KEY_PS),
    row(fx!("python3-saml/response_without_reference_uri.xml.base64"), &PS9_ED91, Stricter(EMPTY_REF, WHY_EMPTY_REF))
        .sha1(),
    row(
        fx!("python3-saml/response_without_assertion_reference_uri.xml.base64"),
        &PS9_ED91,
        Stricter(EMPTY_REF, WHY_EMPTY_REF_ASSERTION),
    )
    .sha1(),
    row(fx!("python3-saml/response4.xml.base64"), &PS11_NONE, No(TWO)).sha1(),
    row(fx!("python3-saml/wrapped_response_2.xml.base64"), &PS12_3244, No("a signature inside `EntityDescriptor`"))
        .sha1(),
    row(fx!("python3-saml/response_node_text_attack.xml.base64"), &PS8_NONE, No("forbidden construct: comment")).sha1(),
    row(fx!("python3-saml/unsigned_response.xml.base64"), &PS1_57BC, No(UNSIGNED))
        .checks(Stricter("SPNameQualifier", WHY_HELLO)),
    // python3-saml `responses/invalids/` (README §2; four of them sit in `python3-saml/` itself).
    // For the unsigned ones, `checks` runs braid's checks with the signature requirement off.
    row(fx!("python3-saml/invalids/invalid_audience.xml.base64"), &PS1_57BC, No(UNSIGNED))
        .checks(No("AudienceRestriction does not name")),
    row(fx!("python3-saml/invalids/invalid_issuer_assertion.xml.base64"), &PS1_57BC, No(UNSIGNED))
        .checks(No("Issuer `http://invalid.issuer")),
    row(fx!("python3-saml/invalids/invalid_issuer_message.xml.base64"), &PS1_57BC, No("Issuer `http://invalid.isser"))
        .checks(No("Issuer `http://invalid.isser")),
    // The README's pin is past SessionNotOnOrAfter, which is years after IssueInstant: braid's
    // IssueInstant age limit fires first (the README allows either reason).
    row(fx!("python3-saml/invalids/invalid_sessionindex.xml.base64"), &PS1_57BC_2015, No("issued too long ago"))
        .checks(No("issued too long ago")),
    row(fx!("python3-saml/invalids/invalid_subjectconfirmation_inresponse.xml.base64"), &PS1_57BC, No(UNSIGNED))
        .checks(No(SCD)),
    row(fx!("python3-saml/invalids/invalid_subjectconfirmation_nb.xml.base64"), &PS1_57BC, No(UNSIGNED))
        .checks(No(SCD)),
    row(fx!("python3-saml/invalids/invalid_subjectconfirmation_noa.xml.base64"), &PS1_57BC, No(UNSIGNED))
        .checks(No(SCD)),
    row(fx!("python3-saml/invalids/invalid_subjectconfirmation_recipient.xml.base64"), &PS1_57BC, No(UNSIGNED))
        .checks(No(SCD)),
    row(fx!("python3-saml/invalids/no_subjectconfirmation_method.xml.base64"), &PS1_57BC, No(UNSIGNED)).checks(No(SCD)),
    row(fx!("python3-saml/invalids/no_subjectconfirmation_data.xml.base64"), &PS1_57BC, No(UNSIGNED)).checks(No(SCD)),
    row(fx!("python3-saml/invalids/no_nameid.xml.base64"), &PS1_57BC, No(UNSIGNED)).checks(No("no NameID")),
    // EncryptedAttribute, and a wrong Recipient, which the checks meet first.
    row(fx!("python3-saml/invalids/encrypted_attrs.xml.base64"), &PS1_57BC, No(UNSIGNED)).checks(No(SCD)),
    row(fx!("python3-saml/invalids/response_encrypted_attrs.xml.base64"), &PS1_57BC, No(UNSIGNED)).checks(No(SCD)),
    // Its only defect is the missing signature.
    row(fx!("python3-saml/invalids/no_signature.xml.base64"), &PS7_5FE9, No(UNSIGNED)).checks(Accept(PS_NAMEID)),
    row(fx!("python3-saml/invalids/not_after_failed.xml.base64"), &PS7_AF3D_LATE, No("no Status"))
        .checks(No("no Status")),
    row(fx!("python3-saml/invalids/not_before_failed.xml.base64"), &PS7_AF3D, No("no Status")).sha1(),
    row(fx!("python3-saml/invalids/no_id.xml.base64"), &PS7_AF3D, No("Response without ID")),
    row(fx!("python3-saml/invalids/bad_reference.xml.base64"), &PS7_5FE9, No(SIG)).sha1(),
    row(fx!("python3-saml/invalids/no_key.xml.base64"), &PS7_5FE9, No("signature method ``")).sha1(),
    row(fx!("python3-saml/invalids/empty_destination.xml.base64"), &PS2_5FE9, No("Destination ``")).sha1(),
    row(fx!("python3-saml/invalids/no_authnstatement.xml.base64"), &PS3_5FE9, No("no AuthnStatement")).sha1(),
    row(fx!("python3-saml/invalids/no_conditions.xml.base64"), &PS3_5FE9, No("no Conditions")).sha1(),
    row(fx!("python3-saml/invalids/no_issuer_assertion.xml.base64"), &PS3_5FE9, No("Assertion without Issuer")).sha1(),
    row(fx!("python3-saml/invalids/no_issuer_response.xml.base64"), &PS3_5FE9, Accept(PS_NAMEID)).sha1(),
    row(fx!("python3-saml/invalids/wrong_spnamequalifier.xml.base64"), &PS3_5FE9, No("SPNameQualifier")).sha1(),
    row(fx!("python3-saml/invalids/duplicated_attributes.xml.base64"), &PS3_191C, No("attribute `uid` appears twice"))
        .sha1(),
    row(fx!("python3-saml/invalids/empty_nameid.xml.base64"), &PS3_5FE9, No("empty NameID")).sha1(),
    row(fx!("python3-saml/invalids/signed_assertion_response.xml.base64"), &PS3_612B, No(SIG)).sha1(),
    row(fx!("python3-saml/invalids/encrypted_nameID_without_EncMethod.xml.base64"), &PS3_BF37, No(SIG))
        .sha1()
        .key(KEY_PS),
    row(fx!("python3-saml/invalids/encrypted_nameID_without_keyinfo.xml.base64"), &PS3_BF37, No(SIG))
        .sha1()
        .key(KEY_PS),
    row(fx!("python3-saml/signature_wrapping_attack.xml.base64"), &PS3_5D9E, No(DUP)).sha1(),
    row(fx!("python3-saml/signature_wrapping_attack2.xml.base64"), &PS10_ID12, No(TWO)).sha1(),
    row(fx!("python3-saml/multiple_assertions.xml.base64"), &PS8_NONE, No(TWO)).sha1(),
    row(fx!("python3-saml/invalids/no_status.xml.base64"), &PS8_NONE, No("no Status")).sha1(),
    row(fx!("python3-saml/invalids/no_status_code.xml.base64"), &PS8_NONE, No("no StatusCode")).sha1(),
    // Error responses carry no assertion, and the gate counts assertions before the status is read.
    row(fx!("python3-saml/invalids/status_code_responder.xml.base64"), &PS13_S212, No("the IdP answered Responder"))
        .checks(No("status:Responder")),
    row(
        fx!("python3-saml/invalids/status_code_responer_and_msg.xml.base64"),
        &PS13_S212,
        No("the IdP answered Responder"),
    )
    .checks(No("status:Responder")),
    row(fx!("python3-saml/no_saml2.xml.base64"), &PS1_2008, No(NOT_RESPONSE)),
    // pysaml2 XSW (README §3); the positive control is built in `saml_fixtures_mutations`.
    row(fx!("pysaml2-xsw/signed-xsw-assertion-wrapper.xml"), &PY_ABC, No(TWO)).sha1(),
    row(fx!("pysaml2-xsw/signed-xsw-assertion-extensions.xml"), &PY_ABC, No(TWO)).sha1(),
    row(fx!("pysaml2-xsw/signed-xsw-assertion-assertion.xml"), &PY_ABC, No(TWO)).sha1(),
    row(fx!("pysaml2-xsw/signed-xsw-assertion-in-assertion-first-sig.xml"), &PY_ABC_FIRST_SIG, No(TWO)).sha1(),
    row(fx!("pysaml2-xsw/signed-xsw-response-in-response-first-sig.xml"), &PY_ABC_FIRST_SIG, No(DUP)).sha1(),
    // samael `test_vectors/` (README §6). IDP1 is the key of `idp_metadata.xml`.
    row(fx!("samael/test_vectors/response.xml"), &SM, No(UNSIGNED)).cert(CRT_IDP1),
    row(fx!("samael/test_vectors/response_signed.xml"), &SM, No(SIG)).sha1().cert(CRT_IDP1),
    row(fx!("samael/test_vectors/response_signed.xml"), &SM, Stricter(TRANSIENT, WHY_TRANSIENT)).sha1(),
    row(fx!("samael/test_vectors/response_signed.xml"), &SM, Accept("test")).sha1().attr("uid"),
    row(fx!("samael/test_vectors/response_signed_assertion.xml"), &SM, Stricter(TRANSIENT, WHY_TRANSIENT)).sha1(),
    row(fx!("samael/test_vectors/response_signed_assertion.xml"), &SM, Accept("test")).sha1().attr("uid"),
    row(fx!("samael/test_vectors/response_signed_by_idp_2.xml"), &SM_2, Stricter("SPNameQualifier", WHY_SPNQ)).sha1(),
    row(fx!("samael/test_vectors/response_signed_by_idp_2.xml"), &SM_2, No(SIG)).sha1().cert(CRT_IDP1),
    row(fx!("samael/test_vectors/response_signed_by_idp_ecdsa.xml"), &SM_2, Stricter("SPNameQualifier", WHY_SPNQ))
        .sha1()
        .cert(CRT_EC),
    row(
        fx!("samael/test_vectors/multi_saml_response_signed_2.xml"),
        &SM_M,
        Stricter("no AudienceRestriction", WHY_NO_AUDIENCE),
    ),
    row(fx!("samael/test_vectors/multi_saml_response_signed.xml"), &SM_M, No(SIG)),
    row(fx!("samael/test_vectors/multi_saml_response_template.xml"), &SM_M, No(SIG)),
    row(fx!("samael/test_vectors/response_signed_template.xml"), &SM_2, No(SIG)).sha1(),
    row(fx!("samael/test_vectors/response_signed__ecdsa-template.xml"), &SM_2, No(SIG)).sha1(),
    // The `saml:` prefix of their EncryptedAssertion is undeclared (declared, in `saml_fixtures_mutations`).
    row(fx!("samael/test_vectors/response_encrypted.xml"), &SM_E, No("malformed")).key(KEY_SM),
    row(fx!("samael/test_vectors/response_encrypted_valid.xml"), &SM_E, No("malformed")).key(KEY_SM),
    row(fx!("samael/test_vectors/ancestor_attack_signed.xml"), &SM_A, No("not directly under the Response")),
    row(fx!("samael/test_vectors/object_attack_response.xml"), &SM_A, No(TWO)),
    row(fx!("samael/test_vectors/object_attack_response_template.xml"), &SM_A, No(SIG_POLICY)),
    row(fx!("samael/test_vectors/xpath_transform.xml"), &SM_A, No(TWO)),
    row(fx!("samael/test_vectors/xpath_transform_template.xml"), &SM_A, No(SIG_POLICY)),
    row(fx!("samael/test_vectors/xpointer_attack_signed.xml"), &SM_A, No(NOT_RESPONSE)),
    row(fx!("samael/test_vectors/xpointer_attack_template.xml"), &SM_A, No(NOT_RESPONSE)),
    row(fx!("samael/test_vectors/authn_request.xml"), &SM, No(NOT_RESPONSE)),
    row(fx!("samael/test_vectors/authn_request_sign_template.xml"), &SM, No(NOT_RESPONSE)),
    row(fx!("samael/test_vectors/logout_request.xml"), &SM, No(NOT_RESPONSE)),
    row(fx!("samael/test_vectors/logout_response.xml"), &SM, No(NOT_RESPONSE)),
    // An EncryptedID in the (decrypted, signed) assertion's Subject, decrypted with the SP key.
    row(
        fx!("python3-saml/signed_message_response2.xml.base64"),
        &PS6_E40B,
        Accept("25ddd7d34a7d79db69167625cda56a320adf2876"),
    )
    .sha1()
    .key(KEY_PS),
    row(
        fx!("python3-saml/response_encrypted_nameid.xml.base64"),
        &PS4_BF37,
        Stricter("rsa-1_5", "its EncryptedID's key is wrapped with RSA PKCS#1 v1.5, which braid never unwraps"),
    )
    .sha1()
    .key(KEY_PS),
];

#[test]
fn saml_fixture_table() {
    let failures: Vec<String> = ROWS.iter().flat_map(|r| run(r, &read(r.file))).collect();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Every message file under `tests/fixtures/saml/` is replayed by some row (or by a mutation).
#[test]
fn saml_fixture_every_message_is_replayed() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml");
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path.to_string_lossy().into_owned());
            }
        }
    }
    let not_a_message = |f: &str| {
        let name = f.rsplit('/').next().unwrap();
        ["LICENSE", "README.md", "certificate1"].contains(&name)
            || [".pem", ".crt", ".key", ".der", "metadata.xml", "metadata_nested.xml"].iter().any(|s| name.ends_with(s))
    };
    let replayed: Vec<&str> =
        ROWS.iter().map(|r| r.file).chain(super::saml_fixtures_mutations::FILES.iter().copied()).collect();
    let missing: Vec<&String> = files.iter().filter(|f| !not_a_message(f) && !replayed.contains(&f.as_str())).collect();
    assert!(missing.is_empty(), "fixtures no row replays: {missing:#?}");
}

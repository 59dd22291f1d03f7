//! Verifying a POSTed SAML Response, as one pure function run off the async runtime: the gate,
//! then samael/xmlsec verification against the IdP's pinned certificates with the algorithms
//! pinned, reduction to the signed content only, decryption (the decrypted assertion goes
//! through the gate and its own signature check), and braid's checks on the verified tree.
//! Nothing is read from an element no verified signature covers, except the unsigned envelope's
//! status, destination and request, which can only make braid refuse.

use openssl::pkey::{PKey, Private};
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode};

use super::checks::{self, Asserted, Expect};
use super::gate::{self, GateError, Limits, NS_ASSERTION, NS_PROTOCOL};

/// Why a response was refused. Logged for the administrator; the person sees a plain page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// Refused at the gate (size, constructs, structure, signature policy).
    #[error("gate: {0}")]
    Gate(#[from] GateError),
    /// Unsigned where a signature is required.
    #[error("unsigned: {0}")]
    Unsigned(&'static str),
    /// A signature did not verify with the IdP's certificates.
    #[error("signature: {0}")]
    Signature(String),
    /// The encrypted assertion could not be decrypted.
    #[error("decryption: {0}")]
    Decrypt(String),
    /// A check of the verified content failed.
    #[error("check: {0}")]
    Check(String),
    /// The IdP answered with an error status and no assertion (unverified; shown, never used).
    #[error("the IdP answered {0}")]
    IdpStatus(String),
}

impl Reject {
    /// A short fixed name of the kind of refusal (a metrics label).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Gate(g) => g.kind(),
            Self::Unsigned(_) => "unsigned",
            Self::Signature(_) => "signature",
            Self::Decrypt(_) => "decrypt",
            Self::Check(_) => "conditions",
            Self::IdpStatus(_) => "idp_status",
        }
    }
}

/// What a response is verified against.
pub struct VerifyInput<'a> {
    /// The IdP's signing certificates (DER).
    pub certs: &'a [Vec<u8>],
    /// The assertion must carry its own signature.
    pub want_assertions_signed: bool,
    /// braid's SP key (decrypts encrypted assertions).
    pub sp_key: Option<&'a PKey<Private>>,
    /// Accept AES-CBC encrypted assertions and NameIDs (the provider's `allow_cbc_encryption`).
    pub allow_cbc: bool,
    /// Test-only: accept SHA-1 (dated third-party fixtures).
    pub legacy_sha1: bool,
    /// The checks' expectations.
    pub expect: Expect<'a>,
}

/// The signature algorithms xmlsec may verify (SHA-256 or stronger).
pub(super) const STRONG: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

fn parse(xml: &str) -> Result<roxmltree::Document<'_>, Reject> {
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 20_000 };
    roxmltree::Document::parse_with_options(xml, options).map_err(|e| Reject::Gate(GateError::Malformed(e.to_string())))
}

fn is(n: &roxmltree::Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name
}

/// Verify every signature of `xml` and return only what they cover.
fn reduce(xml: &str, input: &VerifyInput<'_>) -> Result<String, Reject> {
    if input.certs.is_empty() {
        return Err(Reject::Signature("no IdP certificate".into()));
    }
    let certs: Vec<CertificateDer> = input.certs.iter().map(|c| CertificateDer::from(c.clone())).collect();
    // The gate already pinned the algorithms; SHA-1 fixtures need xmlsec's own list lifted too.
    let allowed = if input.legacy_sha1 { None } else { Some(&STRONG[..]) };
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(xml, &certs, ReduceMode::ValidateAndMarkNoAncestors, allowed)
        .map_err(|e| Reject::Signature(format!("{e}: {e:?}")))
}

/// Verify a decoded response `xml` and check it; returns what its one assertion says.
pub fn verify_response(xml: &str, input: &VerifyInput<'_>) -> Result<Asserted, Reject> {
    // Every parser below reads the same UTF-8 text, without a declaration.
    let xml = gate::without_declaration(xml)?;
    let shape = match gate::check_response(xml, input.legacy_sha1) {
        Ok(shape) => shape,
        // An error answer carries no assertion: say what the IdP said (only ever to refuse).
        Err(GateError::Structure(m)) if m.starts_with("0 assertions") => {
            return Err(idp_status(&parse(xml)?).unwrap_or(Reject::Gate(GateError::Structure(m))));
        }
        Err(e) => return Err(e.into()),
    };
    let original = parse(xml)?;

    // The envelope: verified when the Response is signed, else read only to refuse.
    let reduced_response = if shape.response_signed { Some(reduce(xml, input)?) } else { None };
    let reduced_doc = reduced_response.as_deref().map(parse).transpose()?;
    let response = match &reduced_doc {
        Some(doc) => {
            let root = doc.root_element();
            if !is(&root, NS_PROTOCOL, "Response") || root.attribute("ID") != Some(shape.response_id.as_str()) {
                return Err(Reject::Signature("the verified element is not this Response".into()));
            }
            root
        }
        None => original.root_element(),
    };
    checks::check_response(response, &input.expect, shape.response_signed).map_err(Reject::Check)?;

    if shape.encrypted {
        let key = input.sp_key.ok_or_else(|| Reject::Decrypt("no SP key".into()))?;
        let enc = response
            .children()
            .find(|c| is(c, NS_ASSERTION, "EncryptedAssertion"))
            .ok_or_else(|| Reject::Signature("the encrypted assertion is not covered".into()))?;
        let plain = super::decrypt::decrypt_element(enc, key, input.allow_cbc).map_err(Reject::Decrypt)?;
        let plain = with_namespaces(&plain, enc);
        if plain.len() > Limits::default().max_xml {
            return Err(Reject::Gate(GateError::TooLarge));
        }
        let (id, signed) = gate::check_assertion_doc(&plain, input.legacy_sha1)?;
        return if signed {
            let reduced = reduce(&plain, input)?;
            let doc = parse(&reduced)?;
            checked(verified_assertion(&doc, &id)?, input)
        } else if shape.response_signed && !input.want_assertions_signed {
            let doc = parse(&plain)?;
            checked(doc.root_element(), input)
        } else {
            Err(Reject::Unsigned("the decrypted assertion is not signed"))
        };
    }

    let assertion_id = shape.assertion_id.clone().ok_or(Reject::Unsigned("no assertion"))?;
    if shape.assertion_signed {
        // Verify the whole document again when the Response was verified already: the result's
        // root is then the Response, and the assertion inside carries its own signature's proof.
        let reduced = match reduced_response {
            Some(r) => r,
            None => reduce(xml, input)?,
        };
        let doc = parse(&reduced)?;
        let assertion = verified_assertion(&doc, &assertion_id)?;
        return checked(assertion, input);
    }
    if input.want_assertions_signed {
        return Err(Reject::Unsigned("the assertion is not signed and this provider requires it"));
    }
    match &reduced_doc {
        Some(doc) => checked(verified_assertion(doc, &assertion_id)?, input),
        None => Err(Reject::Unsigned("neither the response nor the assertion is signed")),
    }
}

/// The status of an error answer, when it is not Success.
fn idp_status(doc: &roxmltree::Document<'_>) -> Option<Reject> {
    let root = doc.root_element();
    let status = root.children().find(|c| is(c, NS_PROTOCOL, "Status"))?;
    let code = status.children().find(|c| is(c, NS_PROTOCOL, "StatusCode"))?;
    let top = code.attribute("Value")?;
    if top.ends_with(":Success") {
        return None;
    }
    let sub = code.children().find(|c| is(c, NS_PROTOCOL, "StatusCode")).and_then(|c| c.attribute("Value"));
    // Unverified: only names SAML defines are ever shown, never the sender's own text.
    let shown = match (known_status(top), sub.map(known_status)) {
        (Some(t), Some(Some(s))) => format!("{t} ({s})"),
        (Some(t), None) => t.to_owned(),
        _ => {
            tracing::info!(status = top, detail = ?sub, "an IdP error status braid does not know");
            "an error".to_owned()
        }
    };
    Some(Reject::IdpStatus(shown))
}

/// The short name of a status code SAML core §3.2.2.2 defines, `None` for anything else.
fn known_status(value: &str) -> Option<&'static str> {
    const KNOWN: [&str; 23] = [
        "Requester",
        "Responder",
        "VersionMismatch",
        "AuthnFailed",
        "InvalidAttrNameOrValue",
        "InvalidNameIDPolicy",
        "NoAuthnContext",
        "NoAvailableIDP",
        "NoPassive",
        "NoSupportedIDP",
        "PartialLogout",
        "ProxyCountExceeded",
        "RequestDenied",
        "RequestUnsupported",
        "RequestVersionDeprecated",
        "RequestVersionTooHigh",
        "RequestVersionTooLow",
        "ResourceNotRecognized",
        "TooManyResponses",
        "UnknownAttrProfile",
        "UnknownPrincipal",
        "UnsupportedBinding",
        "Success",
    ];
    let name = value.strip_prefix("urn:oasis:names:tc:SAML:2.0:status:")?;
    KNOWN.iter().find(|k| **k == name).copied()
}

/// braid's checks on a verified assertion; an `EncryptedID` in its Subject is decrypted with
/// the SP key first (it is covered by the assertion's verification as ciphertext).
fn checked(a: roxmltree::Node<'_, '_>, input: &VerifyInput<'_>) -> Result<Asserted, Reject> {
    let subject = a.children().find(|c| is(c, NS_ASSERTION, "Subject"));
    let Some(enc) = subject.and_then(|s| s.children().find(|c| is(c, NS_ASSERTION, "EncryptedID"))) else {
        return checks::check_assertion(a, &input.expect).map_err(Reject::Check);
    };
    let key = input.sp_key.ok_or_else(|| Reject::Decrypt("no SP key".into()))?;
    let plain =
        with_namespaces(&super::decrypt::decrypt_element(enc, key, input.allow_cbc).map_err(Reject::Decrypt)?, enc);
    if plain.len() > 16 * 1024 {
        return Err(Reject::Gate(GateError::TooLarge));
    }
    gate::scan(&plain)?;
    let doc = parse(&plain)?;
    checks::check_assertion_with_name_id(a, &input.expect, Some(doc.root_element())).map_err(Reject::Check)
}

/// The assertion `id` in a reduced document: its root, or the one Assertion child of a
/// verified Response root.
fn verified_assertion<'a, 'i>(doc: &'a roxmltree::Document<'i>, id: &str) -> Result<roxmltree::Node<'a, 'i>, Reject> {
    let root = doc.root_element();
    let found = if is(&root, NS_ASSERTION, "Assertion") {
        Some(root)
    } else if is(&root, NS_PROTOCOL, "Response") {
        let mut it = root.children().filter(|c| is(c, NS_ASSERTION, "Assertion"));
        match (it.next(), it.next()) {
            (Some(a), None) => Some(a),
            _ => None,
        }
    } else {
        None
    };
    found
        .filter(|a| a.attribute("ID") == Some(id))
        .ok_or_else(|| Reject::Signature("the verified element is not the assertion".into()))
}

/// A decrypted assertion may use prefixes declared around the EncryptedAssertion: declare the
/// missing ones on its root (exclusive c14n ignores declarations that are not used, so the
/// digest is unchanged).
fn with_namespaces(plain: &str, around: roxmltree::Node<'_, '_>) -> String {
    let body = plain.trim_start_matches('\u{feff}').trim_start();
    let body = match body.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(body, |(_, after)| after.trim_start()),
        None => body,
    };
    // The root's start tag ends at the first `>` outside quotes.
    let mut quote = None;
    let end = body.char_indices().find_map(|(i, c)| match (quote, c) {
        (None, '"' | '\'') => {
            quote = Some(c);
            None
        }
        (Some(q), c) if c == q => {
            quote = None;
            None
        }
        (None, '>') => Some(i),
        _ => None,
    });
    let Some(end) = end.filter(|_| body.starts_with('<')) else { return body.to_owned() };
    let start_tag = body[..end].trim_end_matches('/');
    let mut extra = String::new();
    for ns in around.namespaces() {
        let Some(prefix) = ns.name() else { continue };
        if prefix == "xml" || start_tag.contains(&format!("xmlns:{prefix}=")) {
            continue;
        }
        extra.push_str(&format!(" xmlns:{prefix}=\"{}\"", crate::web::html::esc(ns.uri())));
    }
    let name_end = start_tag.find(char::is_whitespace).unwrap_or(start_tag.len());
    format!("{}{extra}{}", &body[..name_end], &body[name_end..])
}

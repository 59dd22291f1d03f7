//! The gate in front of SAML processing: size limits before decoding, a byte scan that refuses
//! DTDs, entities, comments, CDATA and processing instructions (parser-differential and
//! truncation attacks, SECURITY-CASES 45-47, 59), a strict parse (roxmltree, DTD off), and a
//! structure and signature-policy pass that admits only the shapes a SAML Response may take:
//! one assertion, directly under the response; signatures only on the response or the assertion,
//! each with one reference to its own parent's ID, enveloped + exclusive c14n transforms, and
//! SHA-256 or stronger (SECURITY-CASES 43, 44, 49, 50). Signature verification itself happens
//! after the gate.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// SAML 2.0 protocol namespace.
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 assertion namespace.
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// XML Signature namespace.
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const STRONG_DIGESTS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
const STRONG_SIGNATURES: [&str; 6] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
const SHA1_DIGEST: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const SHA1_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";

/// Why a message was refused at the gate. Logged, never shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// Larger than the limits allow.
    #[error("message too large")]
    TooLarge,
    /// Not base64, not UTF-8, or not well-formed XML.
    #[error("malformed: {0}")]
    Malformed(String),
    /// A construct braid never accepts (DTD, entity, comment, CDATA, processing instruction).
    #[error("forbidden construct: {0}")]
    Forbidden(&'static str),
    /// Not the shape of a SAML Response braid accepts.
    #[error("structure: {0}")]
    Structure(String),
    /// A signature outside policy (placement, reference, transforms, algorithms).
    #[error("signature policy: {0}")]
    SignaturePolicy(String),
}

impl GateError {
    /// A short fixed name of the kind of refusal (a metrics label).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed(_) | Self::Forbidden(_) | Self::Structure(_) => "malformed",
            Self::SignaturePolicy(_) => "signature_policy",
        }
    }
}

/// Size limits, checked before decoding.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest base64 `SAMLResponse` accepted.
    pub max_encoded: usize,
    /// Largest decoded document accepted.
    pub max_xml: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_encoded: 256 * 1024, max_xml: 192 * 1024 }
    }
}

/// Decode a POSTed `SAMLResponse` within `limits`.
pub fn decode_post(encoded: &str, limits: Limits) -> Result<String, GateError> {
    if encoded.len() > limits.max_encoded {
        return Err(GateError::TooLarge);
    }
    let compact: String = encoded.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() / 4 * 3 > limits.max_xml + 3 {
        return Err(GateError::TooLarge);
    }
    let bytes = STANDARD.decode(compact).map_err(|e| GateError::Malformed(format!("base64: {e}")))?;
    if bytes.len() > limits.max_xml {
        return Err(GateError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| GateError::Malformed("not UTF-8".into()))
}

/// Refuse constructs braid never accepts, before any parser sees them.
pub fn scan(xml: &str) -> Result<(), GateError> {
    let lower = xml.to_ascii_lowercase();
    for (needle, what) in
        [("<!doctype", "DOCTYPE"), ("<!entity", "ENTITY"), ("<!--", "comment"), ("<![cdata[", "CDATA")]
    {
        if lower.contains(needle) {
            return Err(GateError::Forbidden(what));
        }
    }
    // Processing instructions: only the XML declaration, at the very start.
    if without_declaration(xml)?.contains("<?") {
        return Err(GateError::Forbidden("processing instruction"));
    }
    Ok(())
}

/// The document after its XML declaration (and a UTF-8 byte-order mark). A declaration naming
/// an encoding other than UTF-8 is refused: roxmltree reads UTF-8 whatever it says, libxml2
/// obeys it, and a UTF-7 declaration would let markup hidden in text reach xmlsec unseen by the
/// gate. Parsers downstream get this text, so they never see a declaration at all.
pub fn without_declaration(xml: &str) -> Result<&str, GateError> {
    let body = xml.trim_start_matches('\u{feff}');
    let Some(rest) = body.strip_prefix("<?xml ") else { return Ok(body) };
    let (decl, after) = rest.split_once("?>").ok_or(GateError::Malformed("XML declaration".into()))?;
    if let Some((_, value)) = decl.split_once("encoding") {
        let value = value.trim_start().strip_prefix('=').map(str::trim_start).unwrap_or("");
        let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'');
        let name = quote.and_then(|q| value[1..].split_once(q)).map(|(n, _)| n.to_ascii_lowercase());
        if !matches!(name.as_deref(), Some("utf-8" | "utf8")) {
            return Err(GateError::Forbidden("an encoding other than UTF-8"));
        }
    }
    Ok(after)
}

/// What the gate found out about an admitted response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// The Response's ID.
    pub response_id: String,
    /// The Response carries a signature (to be verified).
    pub response_signed: bool,
    /// The one Assertion's ID (`None` when it is an EncryptedAssertion).
    pub assertion_id: Option<String>,
    /// The Assertion carries a signature (to be verified).
    pub assertion_signed: bool,
    /// The assertion is encrypted (its shape is checked again after decryption).
    pub encrypted: bool,
}

fn is(node: roxmltree::Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == name
}

fn element_children<'a, 'i>(node: roxmltree::Node<'a, 'i>) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children().filter(|c| c.is_element())
}

/// Parse strictly and check the structure and signature policy of a SAML Response.
/// `allow_sha1` exists for replaying dated third-party fixtures only.
pub fn check_response(xml: &str, allow_sha1: bool) -> Result<Shape, GateError> {
    scan(xml)?;
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 20_000 };
    let doc = roxmltree::Document::parse_with_options(xml, options).map_err(|e| GateError::Malformed(e.to_string()))?;
    let root = doc.root_element();
    if !is(root, NS_PROTOCOL, "Response") {
        return Err(GateError::Structure(format!("root is `{}`, not a SAML Response", root.tag_name().name())));
    }
    // IDs are unique across the document, or a reference could name two elements.
    let mut ids: Vec<&str> = doc.descendants().filter_map(|n| n.attribute("ID")).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(GateError::Structure("duplicate ID".into()));
    }
    let response_id =
        root.attribute("ID").ok_or_else(|| GateError::Structure("Response without ID".into()))?.to_owned();
    // Exactly one assertion in the whole document, directly under the Response.
    let assertions: Vec<_> = doc
        .descendants()
        .filter(|n| is(*n, NS_ASSERTION, "Assertion") || is(*n, NS_ASSERTION, "EncryptedAssertion"))
        .collect();
    let [assertion] = assertions.as_slice() else {
        return Err(GateError::Structure(format!("{} assertions (exactly one is accepted)", assertions.len())));
    };
    if assertion.parent_element() != Some(root) {
        return Err(GateError::Structure("the assertion is not directly under the Response".into()));
    }
    let encrypted = is(*assertion, NS_ASSERTION, "EncryptedAssertion");
    // Signatures: only a direct child of the Response or of the Assertion.
    let mut response_signed = false;
    let mut assertion_signed = false;
    for sig in doc.descendants().filter(|n| is(*n, NS_DSIG, "Signature")) {
        let parent =
            sig.parent_element().ok_or_else(|| GateError::SignaturePolicy("signature without parent".into()))?;
        if parent == root {
            if response_signed {
                return Err(GateError::SignaturePolicy("two signatures on the Response".into()));
            }
            response_signed = true;
        } else if parent == *assertion && !encrypted {
            if assertion_signed {
                return Err(GateError::SignaturePolicy("two signatures on the Assertion".into()));
            }
            assertion_signed = true;
        } else {
            return Err(GateError::SignaturePolicy(format!("a signature inside `{}`", parent.tag_name().name())));
        }
        check_signature(sig, parent, allow_sha1, false)?;
    }
    Ok(Shape {
        response_id,
        response_signed,
        assertion_id: if encrypted { None } else { assertion.attribute("ID").map(str::to_owned) },
        assertion_signed,
        encrypted,
    })
}

/// Check a decrypted assertion: the same refusals and limits, a single `saml:Assertion` root
/// (an EncryptedAssertion holding two is refused), and at most one policy-conforming signature
/// on it. Returns the assertion's ID and whether it is signed.
pub fn check_assertion_doc(xml: &str, allow_sha1: bool) -> Result<(String, bool), GateError> {
    scan(xml)?;
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 20_000 };
    let doc = roxmltree::Document::parse_with_options(xml, options).map_err(|e| GateError::Malformed(e.to_string()))?;
    let root = doc.root_element();
    if !is(root, NS_ASSERTION, "Assertion") {
        return Err(GateError::Structure("the decrypted content is not one Assertion".into()));
    }
    if doc.descendants().filter(|n| is(*n, NS_ASSERTION, "Assertion")).count() != 1 {
        return Err(GateError::Structure("more than one assertion".into()));
    }
    let mut ids: Vec<&str> = doc.descendants().filter_map(|n| n.attribute("ID")).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(GateError::Structure("duplicate ID".into()));
    }
    let id = root.attribute("ID").ok_or_else(|| GateError::Structure("Assertion without ID".into()))?.to_owned();
    let mut signed = false;
    for sig in doc.descendants().filter(|n| is(*n, NS_DSIG, "Signature")) {
        if sig.parent_element() != Some(root) || signed {
            return Err(GateError::SignaturePolicy("a signature that is not the assertion's own".into()));
        }
        signed = true;
        check_signature(sig, root, allow_sha1, false)?;
    }
    Ok((id, signed))
}

/// One reference to the parent's own ID (or, with `whole_document`, to the whole document: only
/// for a signature on the root of signed metadata); enveloped + exclusive c14n; strong
/// algorithms.
pub(super) fn check_signature<'a>(
    sig: roxmltree::Node<'a, '_>,
    parent: roxmltree::Node<'a, '_>,
    allow_sha1: bool,
    whole_document: bool,
) -> Result<(), GateError> {
    let bad = |m: String| Err(GateError::SignaturePolicy(m));
    let signed_info = element_children(sig).find(|c| is(*c, NS_DSIG, "SignedInfo"));
    let Some(signed_info) = signed_info else { return bad("no SignedInfo".into()) };
    fn alg<'a>(node: Option<roxmltree::Node<'a, '_>>) -> &'a str {
        node.and_then(|n| n.attribute("Algorithm")).unwrap_or("")
    }
    let c14n = alg(element_children(signed_info).find(|c| is(*c, NS_DSIG, "CanonicalizationMethod")));
    if c14n != EXC_C14N {
        return bad(format!("canonicalization `{c14n}`"));
    }
    let method = alg(element_children(signed_info).find(|c| is(*c, NS_DSIG, "SignatureMethod")));
    if !(STRONG_SIGNATURES.contains(&method) || allow_sha1 && method == SHA1_SIGNATURE) {
        return bad(format!("signature method `{method}`"));
    }
    let references: Vec<_> = element_children(signed_info).filter(|c| is(*c, NS_DSIG, "Reference")).collect();
    let [reference] = references.as_slice() else {
        return bad(format!("{} references (exactly one is accepted)", references.len()));
    };
    let id = parent.attribute("ID").unwrap_or("");
    let names_whole_document = whole_document && reference.attribute("URI") == Some("");
    if !names_whole_document && (id.is_empty() || reference.attribute("URI") != Some(&format!("#{id}"))) {
        return bad("the reference does not name the signed element's own ID".into());
    }
    if let Some(transforms) = element_children(*reference).find(|c| is(*c, NS_DSIG, "Transforms")) {
        for t in element_children(transforms) {
            let a = t.attribute("Algorithm").unwrap_or("");
            if !is(t, NS_DSIG, "Transform")
                || (a != ENVELOPED && a != EXC_C14N)
                || element_children(t).any(|c| !c.tag_name().name().eq("InclusiveNamespaces"))
            {
                return bad(format!("transform `{a}`"));
            }
        }
    }
    let digest = alg(element_children(*reference).find(|c| is(*c, NS_DSIG, "DigestMethod")));
    if !(STRONG_DIGESTS.contains(&digest) || allow_sha1 && digest == SHA1_DIGEST) {
        return bad(format!("digest `{digest}`"));
    }
    Ok(())
}

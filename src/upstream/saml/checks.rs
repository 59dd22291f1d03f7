//! braid's own checks of a SAML Response and of its one verified Assertion (SECURITY-CASES
//! 51-58), on braid's clock: status before anything else, issuers, destination, the request it
//! answers, times with a skew, audiences, the bearer confirmation, the subject (never a transient
//! NameID, never text cut by an element) and the attributes. Each check reads only the tree it
//! is given; `verify` gives it the verified one.

use roxmltree::Node;

use super::NAMEID_TRANSIENT;
use super::gate::{NS_ASSERTION, NS_PROTOCOL};
use super::metadata::parse_instant;

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const NAMEID_ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
/// Oldest IssueInstant accepted (before the skew).
const MAX_AGE_MS: i64 = 5 * 60 * 1000;

/// Names looked up for the email when the provider names none (mail, then the usual others).
const EMAIL_NAMES: [&str; 5] = [
    "urn:oid:0.9.2342.19200300.100.1.3",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "email",
    "mail",
    "urn:oid:1.2.840.113549.1.9.1",
];
/// Names looked up for the display name when the provider names none.
const NAME_NAMES: [&str; 6] = [
    "urn:oid:2.16.840.1.113730.3.1.241",
    "http://schemas.microsoft.com/identity/claims/displayname",
    "displayName",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "urn:oid:2.5.4.3",
    "cn",
];

/// What the checks compare against.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// The IdP's entity ID.
    pub idp_entity_id: &'a str,
    /// braid's entity ID at this IdP.
    pub sp_entity_id: &'a str,
    /// braid's ACS URL.
    pub acs_url: &'a str,
    /// The ID of braid's AuthnRequest this browser holds; `None`: unsolicited.
    pub request_id: Option<&'a str>,
    /// Now, ms.
    pub now_ms: i64,
    /// Allowed clock difference, ms.
    pub skew_ms: i64,
    /// A forced re-authentication began at this time (ms): the AuthnInstant must not be older.
    pub authn_after_ms: Option<i64>,
    /// The attribute holding the subject, if not the NameID.
    pub subject_attribute: Option<&'a str>,
    /// The attribute holding the email, if not the usual names.
    pub email_attribute: Option<&'a str>,
    /// The attribute holding the display name, if not the usual names.
    pub name_attribute: Option<&'a str>,
}

/// What a verified assertion says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asserted {
    /// The Assertion's ID (replay cache key, with the issuer).
    pub assertion_id: String,
    /// The identity's subject (NameID or `subject_attribute`).
    pub subject: String,
    /// The NameID, if any.
    pub name_id: Option<String>,
    /// Its Format, if any.
    pub name_id_format: Option<String>,
    /// Email, if an attribute gave one.
    pub email: Option<String>,
    /// Display name, if an attribute gave one.
    pub name: Option<String>,
    /// Every attribute, in order (values that are not text are left out).
    pub attributes: Vec<(String, Vec<String>)>,
    /// When the person authenticated at the IdP, ms.
    pub authn_instant_ms: i64,
    /// The IdP's session index, if any.
    pub session_index: Option<String>,
    /// The authentication context class, if any.
    pub authn_context: Option<String>,
    /// Until when this assertion must be remembered as used, ms.
    pub replay_until_ms: i64,
}

fn is(n: &Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name
}

fn children<'a, 'i>(n: Node<'a, 'i>, ns: &'a str, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children().filter(move |c| is(c, ns, name))
}

fn one<'a, 'i>(n: Node<'a, 'i>, ns: &'a str, name: &'a str) -> Result<Node<'a, 'i>, String> {
    let mut it = children(n, ns, name);
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        (None, _) => Err(format!("no {name} in {}", n.tag_name().name())),
        _ => Err(format!("more than one {name} in {}", n.tag_name().name())),
    }
}

/// The text of an element that must hold only text (a comment or an element inside would let a
/// parser read part of it: CVE-2017-11427).
fn text_only(n: Node<'_, '_>) -> Result<String, String> {
    let mut out = String::new();
    for c in n.children() {
        if c.is_text() {
            out.push_str(c.text().unwrap_or(""));
        } else {
            return Err(format!("{} holds more than text", n.tag_name().name()));
        }
    }
    Ok(out)
}

fn instant(n: Node<'_, '_>, attr: &str) -> Result<Option<i64>, String> {
    n.attribute(attr)
        .map(|v| parse_instant(v).ok_or_else(|| format!("{}@{attr} `{v}` is not a date-time", n.tag_name().name())))
        .transpose()
}

fn check_issuer(parent: Node<'_, '_>, e: &Expect<'_>, required: bool) -> Result<(), String> {
    let issuer = match children(parent, NS_ASSERTION, "Issuer").collect::<Vec<_>>().as_slice() {
        [] if !required => return Ok(()),
        [i] => *i,
        [] => return Err(format!("{} without Issuer", parent.tag_name().name())),
        _ => return Err("more than one Issuer".into()),
    };
    if issuer.attribute("Format").is_some_and(|f| f != NAMEID_ENTITY) {
        return Err("Issuer with a Format other than entity".into());
    }
    let text = text_only(issuer)?;
    if text.trim() != e.idp_entity_id {
        return Err(format!("Issuer `{}` is not the IdP `{}`", text.trim(), e.idp_entity_id));
    }
    Ok(())
}

fn check_instant(n: Node<'_, '_>, e: &Expect<'_>) -> Result<(), String> {
    let at = instant(n, "IssueInstant")?.ok_or_else(|| format!("{} without IssueInstant", n.tag_name().name()))?;
    if at > e.now_ms + e.skew_ms {
        return Err(format!("{} issued in the future", n.tag_name().name()));
    }
    if e.now_ms - at > MAX_AGE_MS + e.skew_ms {
        return Err(format!("{} issued too long ago", n.tag_name().name()));
    }
    Ok(())
}

/// The Response around the assertion: status first, then issuer, destination, the request it
/// answers and its age. `signed`: the Response's own signature was verified (a signed Response
/// must name its Destination).
pub fn check_response(resp: Node<'_, '_>, e: &Expect<'_>, signed: bool) -> Result<(), String> {
    if !is(&resp, NS_PROTOCOL, "Response") {
        return Err("not a Response".into());
    }
    let status = one(resp, NS_PROTOCOL, "Status")?;
    let code = one(status, NS_PROTOCOL, "StatusCode")?.attribute("Value").unwrap_or("");
    if code != STATUS_SUCCESS {
        let sub = children(one(status, NS_PROTOCOL, "StatusCode")?, NS_PROTOCOL, "StatusCode")
            .next()
            .and_then(|c| c.attribute("Value"))
            .unwrap_or("");
        return Err(format!("the IdP answered `{code}` {sub}"));
    }
    if resp.attribute("Version") != Some("2.0") {
        return Err("Response Version is not 2.0".into());
    }
    check_issuer(resp, e, false)?;
    match resp.attribute("Destination") {
        Some(d) if d != e.acs_url => return Err(format!("Destination `{d}` is not braid's ACS")),
        None if signed => return Err("a signed Response without Destination".into()),
        _ => {}
    }
    match (resp.attribute("InResponseTo"), e.request_id) {
        (Some(got), Some(want)) if got != want => return Err("InResponseTo names another request".into()),
        (Some(_), None) => return Err("InResponseTo names a request this browser did not make".into()),
        _ => {}
    }
    check_instant(resp, e)
}

/// The one assertion: everything braid uses comes out of it.
pub fn check_assertion(a: Node<'_, '_>, e: &Expect<'_>) -> Result<Asserted, String> {
    check_assertion_with_name_id(a, e, None)
}

/// As `check_assertion`, with the NameID decrypted from the Subject's `EncryptedID` (which
/// must then be the Subject's only identifier).
pub fn check_assertion_with_name_id(
    a: Node<'_, '_>,
    e: &Expect<'_>,
    decrypted_name_id: Option<Node<'_, '_>>,
) -> Result<Asserted, String> {
    if !is(&a, NS_ASSERTION, "Assertion") {
        return Err("not an Assertion".into());
    }
    if a.attribute("Version") != Some("2.0") {
        return Err("Assertion Version is not 2.0".into());
    }
    let assertion_id = a.attribute("ID").filter(|i| !i.is_empty()).ok_or("Assertion without ID")?.to_owned();
    let issued = instant(a, "IssueInstant")?.ok_or("Assertion without IssueInstant")?;
    check_instant(a, e)?;
    check_issuer(a, e, true)?;
    let (now, skew) = (e.now_ms, e.skew_ms);

    // Conditions: required, every restriction understood and met.
    let conditions = one(a, NS_ASSERTION, "Conditions")?;
    if instant(conditions, "NotBefore")?.is_some_and(|t| t > now + skew) {
        return Err("the assertion is not yet valid (Conditions NotBefore)".into());
    }
    let cond_until = instant(conditions, "NotOnOrAfter")?;
    if cond_until.is_some_and(|t| now >= t + skew) {
        return Err("the assertion has expired (Conditions NotOnOrAfter)".into());
    }
    let mut audiences = 0;
    for c in conditions.children().filter(|c| c.is_element()) {
        if is(&c, NS_ASSERTION, "AudienceRestriction") {
            audiences += 1;
            let mut names = children(c, NS_ASSERTION, "Audience").map(text_only);
            if !names.any(|n| n.is_ok_and(|n| n.trim() == e.sp_entity_id)) {
                return Err(format!("AudienceRestriction does not name braid (`{}`)", e.sp_entity_id));
            }
        } else if !(is(&c, NS_ASSERTION, "OneTimeUse") || is(&c, NS_ASSERTION, "ProxyRestriction")) {
            return Err(format!("unknown condition `{}`", c.tag_name().name()));
        }
    }
    if audiences == 0 {
        return Err("no AudienceRestriction (a bearer assertion must name its audience)".into());
    }

    // Subject and its bearer confirmation.
    let subject = one(a, NS_ASSERTION, "Subject")?;
    let mut scd_until = None;
    for sc in children(subject, NS_ASSERTION, "SubjectConfirmation") {
        if sc.attribute("Method") != Some(CM_BEARER) {
            continue;
        }
        let Ok(data) = one(sc, NS_ASSERTION, "SubjectConfirmationData") else { continue };
        let until = instant(data, "NotOnOrAfter")?;
        let ok = data.attribute("Recipient") == Some(e.acs_url)
            && until.is_some_and(|t| now < t + skew)
            && instant(data, "NotBefore")?.is_none_or(|t| t <= now + skew)
            && data.attribute("InResponseTo") == e.request_id;
        if ok {
            scd_until = until;
            break;
        }
    }
    let scd_until = scd_until.ok_or(
        "no bearer SubjectConfirmation for braid's ACS, this request and the current time (Recipient, InResponseTo, NotOnOrAfter)",
    )?;
    let mut name_ids: Vec<Node<'_, '_>> = children(subject, NS_ASSERTION, "NameID").collect();
    match (children(subject, NS_ASSERTION, "EncryptedID").count(), decrypted_name_id) {
        (0, None) => {}
        (1, Some(n)) if is(&n, NS_ASSERTION, "NameID") => name_ids.push(n),
        (1, None) => return Err("an encrypted NameID braid could not decrypt".into()),
        _ => return Err("the Subject's EncryptedID does not match the decrypted NameID".into()),
    }
    let (name_id, name_id_format) = match name_ids.as_slice() {
        [] => (None, None),
        [n] => {
            if n.attribute("SPNameQualifier").is_some_and(|q| q != e.sp_entity_id) {
                return Err("NameID SPNameQualifier names another SP".into());
            }
            let text = text_only(*n)?.trim().to_owned();
            if text.is_empty() {
                return Err("empty NameID".into());
            }
            (Some(text), n.attribute("Format").map(str::to_owned))
        }
        _ => return Err("more than one NameID".into()),
    };

    // Authentication statement.
    let authn = children(a, NS_ASSERTION, "AuthnStatement").next().ok_or("no AuthnStatement")?;
    let authn_instant_ms = instant(authn, "AuthnInstant")?.ok_or("AuthnStatement without AuthnInstant")?;
    if instant(authn, "SessionNotOnOrAfter")?.is_some_and(|t| now >= t + skew) {
        return Err("the IdP session has ended (SessionNotOnOrAfter)".into());
    }
    if e.authn_after_ms.is_some_and(|t| authn_instant_ms < t - skew) {
        return Err("the IdP did not authenticate the person again (AuthnInstant before the request)".into());
    }
    let authn_context = children(authn, NS_ASSERTION, "AuthnContext")
        .next()
        .and_then(|c| children(c, NS_ASSERTION, "AuthnContextClassRef").next())
        .and_then(|r| text_only(r).ok())
        .map(|s| s.trim().to_owned());

    let attributes = attributes(a)?;
    let find = |configured: Option<&str>, defaults: &[&str]| -> Option<String> {
        let names: Vec<&str> = configured.map_or_else(|| defaults.to_vec(), |c| vec![c]);
        names
            .iter()
            .find_map(|want| {
                attributes.iter().find(|(n, _)| n == want).and_then(|(_, v)| v.iter().find(|s| !s.trim().is_empty()))
            })
            .map(|s| s.trim().to_owned())
    };
    let subject_key = match e.subject_attribute {
        Some(attr) => match attributes.iter().find(|(n, _)| n == attr).map(|(_, v)| v.as_slice()) {
            Some([v]) if !v.trim().is_empty() => v.trim().to_owned(),
            Some(_) => return Err(format!("subject attribute `{attr}` must hold exactly one non-empty value")),
            None => return Err(format!("no subject attribute `{attr}`")),
        },
        None => match (&name_id, name_id_format.as_deref()) {
            (Some(_), Some(NAMEID_TRANSIENT)) => {
                return Err("the NameID is transient (a new value every sign-in); configure the IdP to send a persistent NameID, or set `subject_attribute`".into());
            }
            (Some(n), _) => n.clone(),
            (None, _) => return Err("no NameID (and no `subject_attribute` configured)".into()),
        },
    };
    let replay_until_ms =
        [Some(scd_until), cond_until, Some(issued + MAX_AGE_MS)].into_iter().flatten().min().unwrap_or(issued) + skew;
    Ok(Asserted {
        assertion_id,
        subject: subject_key,
        email: find(e.email_attribute, &EMAIL_NAMES),
        name: find(e.name_attribute, &NAME_NAMES),
        name_id,
        name_id_format,
        attributes,
        authn_instant_ms,
        session_index: authn.attribute("SessionIndex").map(str::to_owned),
        authn_context,
        replay_until_ms,
    })
}

/// Attributes by Name. A value holding a NameID (eduPersonTargetedID) yields that NameID's text;
/// a value holding another element is left out. Two attributes with one Name are refused.
fn attributes(a: Node<'_, '_>) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for statement in children(a, NS_ASSERTION, "AttributeStatement") {
        for attr in statement.children().filter(|c| c.is_element()) {
            if !is(&attr, NS_ASSERTION, "Attribute") {
                return Err(format!("`{}` in an AttributeStatement", attr.tag_name().name()));
            }
            let name = attr.attribute("Name").filter(|n| !n.is_empty()).ok_or("Attribute without Name")?;
            if out.iter().any(|(n, _)| n == name) {
                return Err(format!("attribute `{name}` appears twice"));
            }
            let mut values = Vec::new();
            for v in children(attr, NS_ASSERTION, "AttributeValue") {
                let elements: Vec<_> = v.children().filter(|c| c.is_element()).collect();
                match elements.as_slice() {
                    [] => values.push(text_only(v)?),
                    [n] if is(n, NS_ASSERTION, "NameID") => values.push(text_only(*n)?.trim().to_owned()),
                    _ => {}
                }
            }
            out.push((name.to_owned(), values));
        }
    }
    Ok(out)
}

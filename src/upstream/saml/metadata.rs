//! IdP metadata: read from a file or a URL, checked (the entity must be the configured issuer,
//! at least one signing certificate, each one a parseable X.509 certificate: samael skips
//! verification without one, DESIGN §6), and how long it may be used (`validUntil`,
//! `cacheDuration`, braid's refresh interval). With `metadata_signing_cert` the document must
//! carry one XML signature on its root by that certificate (the response policy: exclusive
//! c14n, SHA-256 or stronger, one reference to the root's ID or the whole document), and only
//! what it covers is read; an `EntitiesDescriptor` aggregate is accepted only so.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::gate;

const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The HTTP-Redirect binding.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// Largest metadata document read.
pub const MAX_METADATA: usize = 1024 * 1024;

/// What braid uses of an IdP's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    /// The IdP's entity ID (equal to the provider's `issuer`).
    pub entity_id: String,
    /// Its signing certificates, DER (every one is tried for each signature).
    pub certs: Vec<Vec<u8>>,
    /// The SingleSignOnService location for HTTP-Redirect.
    pub sso_url: String,
    /// Whether it wants signed AuthnRequests.
    pub want_authn_requests_signed: bool,
    /// `validUntil`, ms, if any (the earliest of the entity's and its descriptor's).
    pub valid_until: Option<i64>,
    /// `cacheDuration`, ms, if any (the shortest).
    pub cache_duration: Option<i64>,
}

/// Why metadata was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// An aggregate (many entities, such as a federation feed) without `metadata_signing_cert`.
    #[error(
        "the metadata is an EntitiesDescriptor aggregate (many entities, such as a federation feed): braid accepts one only with `metadata_signing_cert`, the certificate that signs it"
    )]
    UnsignedAggregate,
    /// Anything else.
    #[error("{0}")]
    Refused(String),
}

impl From<String> for MetadataError {
    fn from(e: String) -> Self {
        Self::Refused(e)
    }
}

impl From<&str> for MetadataError {
    fn from(e: &str) -> Self {
        Self::Refused(e.to_owned())
    }
}

fn is_md(n: &roxmltree::Node<'_, '_>, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(NS_MD) && n.tag_name().name() == name
}

fn parse_doc(xml: &str) -> Result<roxmltree::Document<'_>, MetadataError> {
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 200_000 };
    Ok(roxmltree::Document::parse_with_options(xml, options).map_err(|e| format!("not XML: {e}"))?)
}

/// Parse `xml` and pick the IdP entity `entity_id`. With `signing_certs` (DER) the document must
/// be signed by one of them, and only the verified document is read.
pub fn parse(xml: &str, entity_id: &str, signing_certs: Option<&[Vec<u8>]>) -> Result<IdpMetadata, MetadataError> {
    if xml.len() > MAX_METADATA {
        return Err("metadata larger than 1 MiB".into());
    }
    // The same refusals as for messages: no DTD, entities or processing instructions. Comments
    // are common in hand-edited metadata and harmless here (nothing signed is read from it).
    let lower = xml.to_ascii_lowercase();
    if lower.contains("<!doctype") || lower.contains("<!entity") {
        return Err("metadata with a DTD or entities is refused".into());
    }
    // Signed: every parser reads the same UTF-8 text, without a declaration (see the gate).
    let xml = if signing_certs.is_some() { gate::without_declaration(xml).map_err(|e| e.to_string())? } else { xml };
    let doc = parse_doc(xml)?;
    let root = doc.root_element();
    if !is_md(&root, "EntityDescriptor") && !is_md(&root, "EntitiesDescriptor") {
        return Err(format!("root is `{}`, not an EntityDescriptor", root.tag_name().name()).into());
    }
    let Some(certs) = signing_certs else {
        if is_md(&root, "EntitiesDescriptor") {
            return Err(MetadataError::UnsignedAggregate);
        }
        return read(root, entity_id);
    };
    let verified = super::metadata_signature::verify(xml, &doc, certs)?;
    let verified_doc = parse_doc(&verified)?;
    let verified_root = verified_doc.root_element();
    if verified_root.tag_name() != root.tag_name() || verified_root.attribute("ID") != root.attribute("ID") {
        return Err("the verified element is not the metadata's root".into());
    }
    read(verified_root, entity_id)
}

/// What braid uses of a (verified, when it must be) metadata document whose root is `root`.
fn read(root: roxmltree::Node<'_, '_>, entity_id: &str) -> Result<IdpMetadata, MetadataError> {
    let entities: Vec<_> = if is_md(&root, "EntityDescriptor") {
        vec![root]
    } else {
        root.descendants().filter(|n| is_md(n, "EntityDescriptor")).collect()
    };
    let entity = entities.into_iter().find(|e| e.attribute("entityID") == Some(entity_id)).ok_or_else(|| {
        format!("no entity `{entity_id}` in the metadata (the provider's `issuer` must be its entityID)")
    })?;
    let idp = entity
        .children()
        .find(|n| {
            is_md(n, "IDPSSODescriptor")
                && n.attribute("protocolSupportEnumeration")
                    .is_some_and(|p| p.split_whitespace().any(|v| v == gate::NS_PROTOCOL))
        })
        .ok_or("the entity has no SAML 2.0 IDPSSODescriptor")?;
    let mut signing = Vec::new();
    let mut unspecified = Vec::new();
    for kd in idp.children().filter(|n| is_md(n, "KeyDescriptor")) {
        let certs: Vec<&str> = kd
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().namespace() == Some(NS_DSIG))
            .filter(|n| n.tag_name().name() == "X509Certificate")
            .filter_map(|n| n.text())
            .collect();
        match kd.attribute("use") {
            Some("signing") => signing.extend(certs),
            None => unspecified.extend(certs),
            _ => {}
        }
    }
    let texts = if signing.is_empty() { unspecified } else { signing };
    if texts.is_empty() {
        return Err("the IdP metadata has no signing certificate; braid refuses it (nothing could be verified)".into());
    }
    let mut certs = Vec::new();
    for t in texts {
        let compact: String = t.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD.decode(compact).map_err(|_| "a signing certificate is not base64".to_owned())?;
        openssl::x509::X509::from_der(&der).map_err(|_| "a signing certificate is not an X.509 certificate")?;
        if !certs.contains(&der) {
            certs.push(der);
        }
    }
    let sso_url = idp
        .children()
        .filter(|n| is_md(n, "SingleSignOnService"))
        .find(|n| n.attribute("Binding") == Some(BINDING_REDIRECT))
        .and_then(|n| n.attribute("Location"))
        .ok_or("the IdP offers no SingleSignOnService with the HTTP-Redirect binding")?
        .to_owned();
    let mut valid_until = None;
    let mut cache_duration = None;
    for node in [root, entity, idp] {
        if let Some(v) = node.attribute("validUntil") {
            let t = parse_instant(v).ok_or_else(|| format!("validUntil `{v}` is not a date-time"))?;
            valid_until = Some(valid_until.map_or(t, |u: i64| u.min(t)));
        }
        if let Some(v) = node.attribute("cacheDuration") {
            let d = parse_duration_ms(v).ok_or_else(|| format!("cacheDuration `{v}` is not a duration"))?;
            cache_duration = Some(cache_duration.map_or(d, |c: i64| c.min(d)));
        }
    }
    Ok(IdpMetadata {
        entity_id: entity_id.to_owned(),
        certs,
        sso_url,
        want_authn_requests_signed: idp.attribute("WantAuthnRequestsSigned") == Some("true"),
        valid_until,
        cache_duration,
    })
}

/// An `xs:dateTime` as Unix milliseconds.
pub fn parse_instant(v: &str) -> Option<i64> {
    let v = v.trim();
    chrono::DateTime::parse_from_rfc3339(v).map(|t| t.timestamp_millis()).ok().or_else(|| {
        // SAML times are UTC; some IdPs leave the `Z` out.
        chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc().timestamp_millis())
    })
}

/// An `xs:duration` (`P1DT2H`, `PT30M`, `PT1.5S`) as milliseconds; years and months count as
/// 365 and 30 days. Negative durations are refused.
pub fn parse_duration_ms(v: &str) -> Option<i64> {
    let rest = v.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut total = 0f64;
    let mut any = false;
    let mut eat = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let pos = units.iter().position(|(u, _)| *u == c)?;
            if pos < next_unit || num.is_empty() {
                return None;
            }
            total += num.parse::<f64>().ok()? * units[pos].1;
            num.clear();
            next_unit = pos + 1;
            any = true;
        }
        num.is_empty().then_some(())
    };
    const DAY: f64 = 86_400_000.0;
    eat(date, &[('Y', 365.0 * DAY), ('M', 30.0 * DAY), ('W', 7.0 * DAY), ('D', DAY)])?;
    if let Some(t) = time {
        eat(t, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)])?;
    }
    (any && total.is_finite() && total < 1e15).then_some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_xs_duration() {
        assert_eq!(parse_duration_ms("PT1H"), Some(3_600_000));
        assert_eq!(parse_duration_ms("P1DT30M"), Some(86_400_000 + 1_800_000));
        assert_eq!(parse_duration_ms("PT1.5S"), Some(1500));
        assert_eq!(parse_duration_ms("P"), None);
        assert_eq!(parse_duration_ms("PT"), None);
        assert_eq!(parse_duration_ms("-PT1H"), None);
        assert_eq!(parse_duration_ms("PT1H2H"), None);
        assert_eq!(parse_duration_ms("1H"), None);
    }

    #[test]
    fn instants_parse_with_fractions_and_offsets() {
        assert_eq!(parse_instant("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_instant("1970-01-01T00:00:01.250Z"), Some(1250));
        assert_eq!(parse_instant("1970-01-01T01:00:01+01:00"), Some(1000));
        assert_eq!(parse_instant("1970-01-01T00:00:02"), Some(2000));
        assert_eq!(parse_instant("yesterday"), None);
    }
}

//! The XML signature of IdP metadata, required when the provider names `metadata_signing_cert`:
//! exactly one `ds:Signature`, a direct child of the root, under the same policy as a SAML
//! response's (one reference, to the root's own ID or to the whole document; enveloped and
//! exclusive c14n transforms only; SHA-256 or stronger; no `ds:Object`, `Manifest` or
//! `RetrievalMethod`), verified by xmlsec (through samael) with the configured certificates only
//! (a key in the document's `KeyInfo` is never used). Returns the verified content alone.

use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};

use super::gate::{self, NS_DSIG};

fn is_dsig(n: &roxmltree::Node<'_, '_>, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(NS_DSIG) && n.tag_name().name() == name
}

/// Verify the signature of the metadata `xml` (parsed as `doc`, no declaration) with one of
/// `certs` (DER); the verified document, as xmlsec reduced it.
pub fn verify(xml: &str, doc: &roxmltree::Document<'_>, certs: &[Vec<u8>]) -> Result<String, String> {
    let root = doc.root_element();
    let signatures: Vec<_> = doc.descendants().filter(|n| is_dsig(n, "Signature")).collect();
    let sig = match signatures.as_slice() {
        [] => return Err("the metadata is not signed, and `metadata_signing_cert` requires a signature".into()),
        [one] if one.parent_element() == Some(root) => *one,
        [one] => {
            let parent = one.parent_element().map(|p| p.tag_name().name()).unwrap_or_default();
            return Err(format!("the metadata's signature is inside `{parent}`, not on its root"));
        }
        many => {
            return Err(format!("{} signatures in the metadata (exactly one, on its root, is accepted)", many.len()));
        }
    };
    if let Some(n) =
        sig.descendants().find(|n| is_dsig(n, "Object") || is_dsig(n, "Manifest") || is_dsig(n, "RetrievalMethod"))
    {
        return Err(format!("the metadata's signature holds a `{}`", n.tag_name().name()));
    }
    // IDs are unique, or a reference could name two elements.
    let mut ids: Vec<&str> = doc.descendants().filter_map(|n| n.attribute("ID")).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err("duplicate ID in the metadata".into());
    }
    gate::check_signature(sig, root, false, true).map_err(|e| format!("the metadata's signature: {e}"))?;
    let certs: Vec<CertificateDer> = certs.iter().map(|c| CertificateDer::from(c.clone())).collect();
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&super::verify::STRONG[..]),
    )
    .map_err(|e| format!("the metadata's signature does not verify with `metadata_signing_cert`: {e}"))
}

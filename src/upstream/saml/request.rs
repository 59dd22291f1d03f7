//! The SP-initiated AuthnRequest over the HTTP-Redirect binding: a fresh 256-bit ID (kept
//! server-side as the only acceptable `InResponseTo`), braid's clock, `ForceAuthn` when the
//! person must authenticate again, raw DEFLATE then base64, and an rsa-sha256 signature over the
//! exact query (`SAMLRequest`, `RelayState`, `SigAlg`) when the IdP wants signed requests. The
//! signature covers braid's own parameters only, so an SSO URL with its own query still works.

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::pkey::{PKey, Private};

use crate::web::html::esc;

/// The rsa-sha256 signature algorithm URI.
pub const SIG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// What goes into one AuthnRequest.
#[derive(Debug, Clone)]
pub struct AuthnRequest<'a> {
    /// The request ID (`_` + random).
    pub id: &'a str,
    /// IssueInstant, Unix seconds.
    pub now_secs: i64,
    /// The IdP's SSO URL (also the Destination).
    pub destination: &'a str,
    /// braid's ACS URL.
    pub acs_url: &'a str,
    /// braid's entity ID.
    pub issuer: &'a str,
    /// Ask the IdP to authenticate the person again.
    pub force_authn: bool,
}

impl AuthnRequest<'_> {
    /// The request document.
    pub fn xml(&self) -> String {
        format!(
            "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{instant}\" Destination=\"{dest}\" AssertionConsumerServiceURL=\"{acs}\" ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\"{force}><saml:Issuer>{issuer}</saml:Issuer></samlp:AuthnRequest>",
            id = esc(self.id),
            instant = super::sp::instant(self.now_secs),
            dest = esc(self.destination),
            acs = esc(self.acs_url),
            force = if self.force_authn { " ForceAuthn=\"true\"" } else { "" },
            issuer = esc(self.issuer),
        )
    }

    /// The URL sending the browser to the IdP: `RelayState` is braid's opaque handle; `key`
    /// signs the query when given.
    pub fn redirect_url(&self, relay_state: &str, key: Option<&PKey<Private>>) -> Result<String, String> {
        let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflater.write_all(self.xml().as_bytes()).map_err(|e| e.to_string())?;
        let deflated = deflater.finish().map_err(|e| e.to_string())?;
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let mut query = format!("SAMLRequest={}&RelayState={}", enc(&STANDARD.encode(deflated)), enc(relay_state));
        if let Some(key) = key {
            query.push_str(&format!("&SigAlg={}", enc(SIG_RSA_SHA256)));
            let mut signer =
                openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key).map_err(|e| e.to_string())?;
            signer.update(query.as_bytes()).map_err(|e| e.to_string())?;
            let sig = signer.sign_to_vec().map_err(|e| e.to_string())?;
            query.push_str(&format!("&Signature={}", enc(&STANDARD.encode(sig))));
        }
        let sep = if self.destination.contains('?') { '&' } else { '?' };
        Ok(format!("{}{sep}{query}", self.destination))
    }
}

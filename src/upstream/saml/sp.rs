//! braid's own side at SAML IdPs: the SP key and certificate (`keys/saml-sp-key.pem`,
//! `keys/saml-sp-cert.pem`, generated on first use if absent, race-safe between replicas), the
//! SP entity ID and ACS URL of each provider, and the SP metadata document.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use tokio::sync::OnceCell;

use super::SamlSettings;
use crate::web::html::esc as html_attr;

/// The SP key file name in the keys directory.
pub const KEY_FILE: &str = "saml-sp-key.pem";
/// The SP certificate file name in the keys directory.
pub const CERT_FILE: &str = "saml-sp-cert.pem";

/// The SP key pair.
pub struct SpKey {
    /// Private key (signs AuthnRequests, decrypts assertions).
    pub key: PKey<Private>,
    /// Its certificate, as published in the SP metadata.
    pub cert: X509,
    /// The certificate's DER, base64.
    pub cert_b64: String,
}

/// The SP key pair, loaded (or made) on first use.
pub struct SpKeys {
    dir: PathBuf,
    cn: String,
    now_secs: Box<dyn Fn() -> i64 + Send + Sync>,
    cell: OnceCell<Arc<SpKey>>,
}

impl SpKeys {
    /// Keys in `dir`; a generated certificate names `cn` and starts at `now_secs()`.
    pub fn new(dir: PathBuf, cn: String, now_secs: Box<dyn Fn() -> i64 + Send + Sync>) -> Self {
        Self { dir, cn, now_secs, cell: OnceCell::new() }
    }

    /// The key pair, read from the keys directory or generated there.
    pub async fn get(&self) -> Result<Arc<SpKey>, String> {
        self.cell
            .get_or_try_init(|| async {
                let (dir, cn, now) = (self.dir.clone(), self.cn.clone(), (self.now_secs)());
                tokio::task::spawn_blocking(move || load_or_generate(&dir, &cn, now).map(Arc::new))
                    .await
                    .map_err(|e| format!("SP key task: {e}"))?
            })
            .await
            .cloned()
    }
}

fn load_or_generate(dir: &Path, cn: &str, now: i64) -> Result<SpKey, String> {
    let (key_path, cert_path) = (dir.join(KEY_FILE), dir.join(CERT_FILE));
    if !key_path.exists() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (key_pem, cert_pem) = generate(cn, now).map_err(|e| format!("SP key generation: {e}"))?;
        // The key first (hard link: the first replica's pair wins), then its certificate.
        if link_new(dir, &key_path, &key_pem, 0o600)? {
            link_new(dir, &cert_path, &cert_pem, 0o644)?;
        }
    }
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut cert_pem = read(&cert_path);
    // Another replica may still be writing its certificate.
    for _ in 0..50 {
        if cert_pem.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        cert_pem = read(&cert_path);
    }
    let key = PKey::private_key_from_pem(&read(&key_path)?)
        .map_err(|_| format!("{}: not a PEM private key", key_path.display()))?;
    // A key without its certificate (a crash between the two links): certify the key.
    if !cert_path.exists() {
        let pem = self_signed(&key, cn, now).map_err(|e| format!("SP certificate: {e}"))?;
        link_new(dir, &cert_path, &pem, 0o644)?;
        cert_pem = read(&cert_path);
    }
    let cert = X509::from_pem(&cert_pem?).map_err(|_| format!("{}: not a PEM certificate", cert_path.display()))?;
    let public = cert.public_key().map_err(|e| format!("{}: {e}", cert_path.display()))?;
    if !key.public_eq(&public) {
        return Err(format!("{} does not hold the public key of {}", cert_path.display(), key_path.display()));
    }
    let der = cert.to_der().map_err(|e| e.to_string())?;
    Ok(SpKey { key, cert, cert_b64: STANDARD.encode(der) })
}

/// A fresh RSA-3072 key and its self-signed certificate (PEM).
fn generate(cn: &str, now: i64) -> Result<(Vec<u8>, Vec<u8>), openssl::error::ErrorStack> {
    let key = PKey::from_rsa(openssl::rsa::Rsa::generate(3072)?)?;
    Ok((key.private_key_to_pem_pkcs8()?, self_signed(&key, cn, now)?))
}

/// A self-signed certificate (PEM) for `key`, valid for ten years from `now`.
fn self_signed(key: &PKey<Private>, cn: &str, now: i64) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    use openssl::asn1::{Asn1Integer, Asn1Time};
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", cn)?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
    b.set_serial_number(Asn1Integer::from_bn(&serial)?.as_ref())?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(key)?;
    b.set_not_before(Asn1Time::from_unix(now - 60)?.as_ref())?;
    b.set_not_after(Asn1Time::from_unix(now + 10 * 365 * 86_400)?.as_ref())?;
    b.sign(key, MessageDigest::sha256())?;
    b.build().to_pem()
}

/// Write `bytes` to `target` unless it exists; `Ok(true)` when this call created it.
fn link_new(dir: &Path, target: &Path, bytes: &[u8], mode: u32) -> Result<bool, String> {
    let tmp = dir.join(format!(".tmp-{}", crate::ids::random_base32(8)));
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = opts.open(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| io(&tmp, e))?;
    }
    let linked = std::fs::hard_link(&tmp, target);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io(target, e)),
    }
}

/// braid's entity ID at provider `id`.
pub fn entity_id(public_url: &str, id: &str, settings: &SamlSettings) -> String {
    settings.entity_id.clone().unwrap_or_else(|| format!("{public_url}/saml/{id}"))
}

/// The assertion consumer service URL of provider `id`.
pub fn acs_url(public_url: &str, id: &str) -> String {
    format!("{public_url}/saml/{id}/acs")
}

/// The SP metadata of one provider. It names the signing and encryption key (one key pair),
/// the encryption methods braid decrypts for it (AES-GCM; AES-CBC after them only when the
/// provider allows it), and braid's signing wishes. `valid_until` bounds how long an IdP may
/// cache it.
pub fn metadata_xml(
    entity_id: &str,
    acs: &str,
    sign_requests: bool,
    want_assertions_signed: bool,
    allow_cbc: bool,
    cert_b64: &str,
    valid_until: &str,
) -> String {
    let key = |usage: &str, methods: &str| {
        format!(
            "<md:KeyDescriptor use=\"{usage}\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{methods}</md:KeyDescriptor>"
        )
    };
    let cbc: &[&str] = if allow_cbc { &super::decrypt::CBC_METHODS } else { &[] };
    let enc_methods = super::decrypt::GCM_METHODS
        .iter()
        .chain(cbc)
        .chain(&["http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"])
        .map(|m| format!("<md:EncryptionMethod Algorithm=\"{m}\"/>"))
        .collect::<String>();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"{entity}\" validUntil=\"{valid_until}\"><md:SPSSODescriptor AuthnRequestsSigned=\"{sign_requests}\" WantAssertionsSigned=\"{want_assertions_signed}\" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{signing}{encryption}<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat><md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"{acs}\" index=\"0\" isDefault=\"true\"/></md:SPSSODescriptor></md:EntityDescriptor>\n",
        entity = html_attr(entity_id),
        acs = html_attr(acs),
        signing = key("signing", ""),
        encryption = key("encryption", &enc_methods),
    )
}

/// An `xs:dateTime` (UTC, whole seconds) for Unix seconds.
pub fn instant(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_left_without_its_certificate_is_certified_again() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(dir.path(), "braid.test", 1_800_000_000).unwrap();
        std::fs::remove_file(dir.path().join(CERT_FILE)).unwrap();
        let again = load_or_generate(dir.path(), "braid.test", 1_800_000_000).unwrap();
        assert!(again.key.public_eq(&first.key), "the same key is kept");
        assert!(again.key.public_eq(&again.cert.public_key().unwrap()), "and certified");
        assert!(dir.path().join(CERT_FILE).exists());
    }
}

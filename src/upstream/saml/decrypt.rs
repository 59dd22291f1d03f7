//! Encrypted assertions and NameIDs (XML Encryption): the content key is unwrapped with braid's SP key
//! (RSA-OAEP only; RSA PKCS#1 v1.5 is refused, Bleichenbacher), the assertion decrypted with
//! AES-GCM (or AES-CBC, unauthenticated, only for a provider that opts in with
//! `allow_cbc_encryption`), every length checked before slicing, and the plaintext returned for
//! the gate and the signature check to run on it (the decrypted assertion is verified, not
//! trusted because of the envelope around it).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::pkey::{PKey, Private};
use openssl::symm::Cipher;
use roxmltree::Node;

const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";

/// The authenticated data encryption methods braid decrypts, in order of preference (the SP
/// metadata advertises them).
pub const GCM_METHODS: [&str; 3] = [
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#aes192-gcm",
];
/// The AES-CBC methods braid decrypts only for a provider with `allow_cbc_encryption`:
/// unauthenticated, malleable ciphertext (padding and format oracles).
pub const CBC_METHODS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
];
/// The key transport methods braid accepts.
pub const KEY_METHODS: [&str; 2] = [RSA_OAEP_MGF1P, RSA_OAEP];

fn is(n: &Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name
}

fn child<'a, 'i>(n: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| is(c, ns, name))
}

fn cipher_value(n: Node<'_, '_>) -> Result<Vec<u8>, String> {
    let v = child(n, NS_XENC, "CipherData")
        .and_then(|d| child(d, NS_XENC, "CipherValue"))
        .and_then(|v| v.text())
        .ok_or("no CipherValue")?;
    let compact: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).map_err(|_| "CipherValue is not base64".to_owned())
}

fn method<'a>(n: Node<'a, '_>) -> &'a str {
    child(n, NS_XENC, "EncryptionMethod").and_then(|m| m.attribute("Algorithm")).unwrap_or("")
}

/// Decrypt an `EncryptedAssertion` or `EncryptedID` element `enc` with `key`; returns the
/// plaintext XML. AES-CBC content is refused unless `allow_cbc`, before any key is unwrapped.
pub fn decrypt_element(enc: Node<'_, '_>, key: &PKey<Private>, allow_cbc: bool) -> Result<String, String> {
    let data = child(enc, NS_XENC, "EncryptedData")
        .ok_or_else(|| format!("{} without EncryptedData", enc.tag_name().name()))?;
    let data_method = method(data);
    if CBC_METHODS.contains(&data_method) && !allow_cbc {
        return Err(format!(
            "data encryption `{data_method}` (AES-CBC) is refused: this provider does not set allow_cbc_encryption"
        ));
    }
    // The EncryptedKey sits in the data's KeyInfo or beside the data.
    let encrypted_key = child(data, NS_DSIG, "KeyInfo")
        .and_then(|k| child(k, NS_XENC, "EncryptedKey"))
        .or_else(|| child(enc, NS_XENC, "EncryptedKey"))
        .ok_or("no EncryptedKey")?;
    let content_key = unwrap_key(encrypted_key, key)?;
    let plain = decrypt_data(data_method, &cipher_value(data)?, &content_key)?;
    String::from_utf8(plain).map_err(|_| "the decrypted content is not UTF-8".to_owned())
}

fn unwrap_key(encrypted_key: Node<'_, '_>, key: &PKey<Private>) -> Result<Vec<u8>, String> {
    use openssl::hash::MessageDigest;
    let alg = method(encrypted_key);
    if !KEY_METHODS.contains(&alg) {
        return Err(format!("key transport `{alg}` is not accepted (RSA-OAEP only)"));
    }
    let em = child(encrypted_key, NS_XENC, "EncryptionMethod").ok_or("no EncryptionMethod")?;
    let digest = match child(em, NS_DSIG, "DigestMethod").and_then(|d| d.attribute("Algorithm")) {
        None | Some("http://www.w3.org/2000/09/xmldsig#sha1") => MessageDigest::sha1(),
        Some("http://www.w3.org/2001/04/xmlenc#sha256") => MessageDigest::sha256(),
        Some("http://www.w3.org/2001/04/xmlenc#sha512") => MessageDigest::sha512(),
        Some(other) => return Err(format!("OAEP digest `{other}` is not supported")),
    };
    let mgf = match em
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == "MGF")
        .and_then(|m| m.attribute("Algorithm"))
    {
        None | Some("http://www.w3.org/2009/xmlenc11#mgf1sha1") => MessageDigest::sha1(),
        Some("http://www.w3.org/2009/xmlenc11#mgf1sha256") => MessageDigest::sha256(),
        Some(other) => return Err(format!("OAEP mask function `{other}` is not supported")),
    };
    let wrapped = cipher_value(encrypted_key)?;
    let fail = |_| "the content key could not be unwrapped (not encrypted for braid's SP key?)".to_owned();
    let mut d = openssl::encrypt::Decrypter::new(key).map_err(fail)?;
    d.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP).map_err(fail)?;
    d.set_rsa_oaep_md(digest).map_err(fail)?;
    d.set_rsa_mgf1_md(mgf).map_err(fail)?;
    let mut out = vec![0; d.decrypt_len(&wrapped).map_err(fail)?];
    let n = d.decrypt(&wrapped, &mut out).map_err(fail)?;
    out.truncate(n);
    Ok(out)
}

fn decrypt_data(alg: &str, data: &[u8], key: &[u8]) -> Result<Vec<u8>, String> {
    let (cipher, gcm) = match alg {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Cipher::aes_128_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Cipher::aes_192_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Cipher::aes_256_cbc(), false),
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (Cipher::aes_128_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => (Cipher::aes_192_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (Cipher::aes_256_gcm(), true),
        other => return Err(format!("data encryption `{other}` is not supported")),
    };
    if key.len() != cipher.key_len() {
        return Err("the content key has the wrong length".into());
    }
    let fail = |_| "the assertion could not be decrypted".to_owned();
    if gcm {
        // IV (12) ‖ ciphertext ‖ tag (16).
        if data.len() < 12 + 16 {
            return Err("GCM ciphertext too short".into());
        }
        let (iv, rest) = data.split_at(12);
        let (ct, tag) = rest.split_at(rest.len() - 16);
        openssl::symm::decrypt_aead(cipher, key, Some(iv), &[], ct, tag).map_err(fail)
    } else {
        // IV (16) ‖ ciphertext; XML Encryption padding: the last byte gives its length.
        if data.len() < 32 || data.len() % 16 != 0 {
            return Err("CBC ciphertext has a wrong length".into());
        }
        let (iv, ct) = data.split_at(16);
        let mut c = openssl::symm::Crypter::new(cipher, openssl::symm::Mode::Decrypt, key, Some(iv)).map_err(fail)?;
        c.pad(false);
        let mut out = vec![0; ct.len() + 16];
        let mut n = c.update(ct, &mut out).map_err(fail)?;
        n += c.finalize(&mut out[n..]).map_err(fail)?;
        out.truncate(n);
        let pad = usize::from(*out.last().ok_or("empty plaintext")?);
        if pad == 0 || pad > 16 || pad > out.len() {
            return Err("the assertion could not be decrypted (padding)".into());
        }
        out.truncate(out.len() - pad);
        Ok(out)
    }
}

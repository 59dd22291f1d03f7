//! braid's proxy to `https://` upstreams: the upstream's certificate is verified (here against a
//! private CA named by `[proxy] upstream_ca_file`), so a request passes over TLS to an upstream
//! whose certificate that CA signed, and an upstream with a certificate nobody trusted gets the
//! 502 page, never an unverified connection. A CA file that holds no certificate stops braid
//! with the key's name.

use std::net::SocketAddr;
use std::sync::Arc;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};
use reqwest::StatusCode;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::forward_auth::proxied_tweaked;

fn key() -> PKey<Private> {
    PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap()).unwrap()
}

/// A certificate for `cn`: self-signed as a CA when `issuer` is `None`, else a server
/// certificate for 127.0.0.1 signed by `issuer`.
fn cert(cn: &str, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap()).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap()).unwrap();
    match issuer {
        None => {
            b.set_issuer_name(&name).unwrap();
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap()).unwrap();
            b.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build().unwrap()).unwrap();
            b.sign(key, MessageDigest::sha256()).unwrap();
        }
        Some((ca, ca_key)) => {
            b.set_issuer_name(ca.subject_name()).unwrap();
            b.append_extension(BasicConstraints::new().critical().build().unwrap()).unwrap();
            b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap()).unwrap();
            let san =
                SubjectAlternativeName::new().ip("127.0.0.1").dns("localhost").build(&b.x509v3_context(Some(ca), None));
            b.append_extension(san.unwrap()).unwrap();
            b.sign(ca_key, MessageDigest::sha256()).unwrap();
        }
    }
    b.build()
}

/// A TLS listener for `axum::serve`: connections whose handshake fails are dropped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else { continue };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An application served over TLS with a certificate signed by `ca`; its port.
async fn tls_app(ca: &X509, ca_key: &PKey<Private>) -> u16 {
    let leaf_key = key();
    let leaf = cert("upstream", &leaf_key, Some((ca, ca_key)));
    let chain = vec![CertificateDer::from(leaf.to_der().unwrap())];
    let pkcs8 = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.private_key_to_pkcs8().unwrap()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, pkcs8)
        .unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener { tcp, acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) };
    let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        format!("over tls for {}", headers.get("x-forwarded-host").and_then(|v| v.to_str().ok()).unwrap_or("?"))
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstreams_are_verified_against_the_configured_ca() {
    let (ca_key, stranger_key) = (key(), key());
    let ca = cert("braid test CA", &ca_key, None);
    let stranger = cert("nobody's CA", &stranger_key, None);
    let trusted = tls_app(&ca, &ca_key).await;
    let untrusted = tls_app(&stranger, &stranger_key).await;
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_file = ca_dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.to_pem().unwrap()).unwrap();
    let routes = move |_: &str| {
        format!(
            "[[routes]]\nhost = \"secure.test\"\nupstream = \"https://127.0.0.1:{trusted}\"\npublic_paths = [\"/\"]\n\
             [[routes]]\nhost = \"stranger.test\"\nupstream = \"https://127.0.0.1:{untrusted}\"\npublic_paths = [\"/\"]\n"
        )
    };
    let file = ca_file.clone();
    let p = proxied_tweaked(routes, move |s| s.proxy.upstream_ca_file = Some(file)).await;
    let h = reqwest::Client::new();
    let ask = |host: &'static str| h.get(p.app.url("/page")).header("host", host).send();
    let r = ask("secure.test").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "over tls for secure.test");
    let r = ask("stranger.test").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "a certificate nobody trusted is never used");
    assert!(r.text().await.unwrap().contains("The application is not answering"));

    // A CA file without a certificate stops braid, naming the key.
    std::fs::write(&ca_file, "not a certificate\n").unwrap();
    let mut s = crate::helpers::settings(ca_dir.path(), "sqlite::memory:", "memory", "");
    s.proxy.upstream_ca_file = Some(ca_file);
    let e = s.check("braid.toml").expect_err("refused");
    let e = format!("{e:?}");
    assert!(e.contains("proxy.upstream_ca_file"), "{e}");
}

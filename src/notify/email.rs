//! `[notify.email]`: the SMTP server braid sends its emails to the person through, the checks of
//! those settings (each problem names its key), and the [`Mailer`] built from them with lettre
//! (tokio, rustls; no native TLS).
//!
//! `smtp_url` is `smtps://host[:port]` (TLS from the first byte, port 465 by default) or
//! `smtp://host[:port]` (STARTTLS required, port 587 by default, unless `starttls = false`: then
//! plain SMTP, port 25 by default). `starttls` defaults to `true`, except for a loopback host (a
//! local relay). Credentials are `username` and `password` (with `${ENV}` references) or
//! `password_file`; they are never sent in clear to a host other than loopback.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::message::Rendered;
use crate::config::resolve_secret;

/// `[notify.email]`: send an email to the person on every change of their links. Absent: no
/// email is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// `smtp://host[:port]` or `smtps://host[:port]`.
    pub smtp_url: String,
    /// The sender, `name <address>` or `address`.
    pub from: String,
    /// With `smtp://`: require STARTTLS. Defaults to `true`, `false` for a loopback host.
    pub starttls: Option<bool>,
    /// The SMTP user name, if the server wants one.
    pub username: Option<String>,
    /// The SMTP password; `${ENV_VAR}` is replaced.
    pub password: Option<SecretString>,
    /// A file holding the SMTP password (trailing newline ignored).
    pub password_file: Option<PathBuf>,
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtps://`: TLS from the first byte.
    Tls,
    /// `smtp://` with STARTTLS required.
    StartTls,
    /// `smtp://` in clear (loopback relays, or `starttls = false`).
    Plain,
}

/// Where and how to connect, from `smtp_url` and `starttls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// TLS, STARTTLS or clear.
    pub security: Security,
    /// The host name or address (IPv6 without brackets).
    pub host: String,
    /// The port, if `smtp_url` gives one.
    pub port: Option<u16>,
    /// Whether the host is loopback.
    pub loopback: bool,
}

impl EmailSettings {
    /// The endpoint, or the key and reason of the problem.
    pub fn endpoint(&self) -> Result<Endpoint, (&'static str, String)> {
        let key = "notify.email.smtp_url";
        let url = Url::parse(&self.smtp_url).map_err(|e| (key, format!("`{}` is not a URL: {e}", self.smtp_url)))?;
        let (host, loopback) = match url.host() {
            // smtp is not a "special" scheme: the url crate leaves an IPv4 host as a name.
            Some(url::Host::Domain(d)) if !d.is_empty() => {
                let loopback =
                    d.eq_ignore_ascii_case("localhost") || d.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
                (d.to_owned(), loopback)
            }
            Some(url::Host::Ipv4(ip)) => (ip.to_string(), IpAddr::V4(ip).is_loopback()),
            Some(url::Host::Ipv6(ip)) => (ip.to_string(), IpAddr::V6(ip).is_loopback()),
            _ => return Err((key, format!("`{}` has no host", self.smtp_url))),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err((key, "give credentials in `username` and `password`, not in the URL".into()));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err((key, format!("`{}` must be only a scheme, a host and a port", self.smtp_url)));
        }
        let security = match (url.scheme(), self.starttls) {
            ("smtps", None) => Security::Tls,
            ("smtps", Some(_)) => {
                return Err((
                    "notify.email.starttls",
                    "smtps:// is TLS from the first byte; `starttls` is for smtp:// only".into(),
                ));
            }
            ("smtp", Some(true)) => Security::StartTls,
            ("smtp", Some(false)) => Security::Plain,
            ("smtp", None) if loopback => Security::Plain,
            ("smtp", None) => Security::StartTls,
            (scheme, _) => return Err((key, format!("the scheme must be smtp or smtps, not `{scheme}`"))),
        };
        Ok(Endpoint { security, host, port: url.port(), loopback })
    }

    /// The SMTP credentials, if any, or the key and reason of the problem.
    pub fn credentials(&self) -> Result<Option<Credentials>, (&'static str, String)> {
        if self.password.is_some() && self.password_file.is_some() {
            return Err(("notify.email.password_file", "give `password` or `password_file`, not both".into()));
        }
        let key = if self.password_file.is_some() { "notify.email.password_file" } else { "notify.email.password" };
        let password =
            resolve_secret(self.password.as_ref(), self.password_file.as_deref(), key).map_err(|reason| {
                let reason = reason.strip_prefix(&format!("key `{key}`: ")).map(str::to_owned).unwrap_or(reason);
                (key, reason)
            })?;
        match (&self.username, password) {
            (None, None) => Ok(None),
            (Some(user), Some(password)) => {
                if user.is_empty() {
                    return Err(("notify.email.username", "must not be empty".into()));
                }
                if password.expose_secret().is_empty() {
                    return Err((key, "the password is empty (an unset environment variable?)".into()));
                }
                Ok(Some(Credentials::new(user.clone(), password.expose_secret().to_owned())))
            }
            (Some(_), None) => {
                Err(("notify.email.password", "a `username` needs `password` or `password_file`".into()))
            }
            (None, Some(_)) => Err(("notify.email.username", "a password needs a `username`".into())),
        }
    }

    /// The sender mailbox, or the reason it is refused.
    pub fn from_mailbox(&self) -> Result<Mailbox, (&'static str, String)> {
        self.from
            .parse::<Mailbox>()
            .map_err(|e| ("notify.email.from", format!("`{}` is not an email address: {e}", self.from)))
    }
}

/// The problems of `[notify.email]`, each as (key, reason); none when it is absent.
pub fn check(email: Option<&EmailSettings>) -> Vec<(String, String)> {
    let Some(email) = email else { return Vec::new() };
    let mut problems = Vec::new();
    let endpoint = email.endpoint().map_err(|p| problems.push(p)).ok();
    let credentials = email.credentials().map_err(|p| problems.push(p)).ok().flatten();
    if let (Some(endpoint), Some(_)) = (&endpoint, &credentials)
        && endpoint.security == Security::Plain
        && !endpoint.loopback
    {
        problems.push((
            "notify.email.starttls",
            format!(
                "the SMTP password would cross the network in clear to `{}`: use smtps://, or STARTTLS \
                 (remove `starttls = false`)",
                endpoint.host
            ),
        ));
    }
    if let Err(p) = email.from_mailbox() {
        problems.push(p);
    }
    problems.into_iter().map(|(k, r)| (k.to_owned(), r)).collect()
}

/// Sends rendered messages to one SMTP server.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The right part of every Message-ID: braid's host.
    domain: String,
}

impl Mailer {
    /// A mailer for `email`, saying EHLO with the host of `public_url`; each SMTP exchange may
    /// take `timeout`.
    pub fn from_settings(email: &EmailSettings, public_url: &str, timeout: Duration) -> Result<Self, String> {
        let problem = |(key, reason): (&str, String)| format!("key `{key}`: {reason}");
        let endpoint = email.endpoint().map_err(problem)?;
        let credentials = email.credentials().map_err(problem)?;
        let from = email.from_mailbox().map_err(problem)?;
        let domain = Url::parse(public_url)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned()))
            .unwrap_or_else(|| "braid.invalid".into());
        let mut builder = match endpoint.security {
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&endpoint.host),
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&endpoint.host),
            Security::Plain => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(endpoint.host.clone())),
        }
        .map_err(|e| format!("key `notify.email.smtp_url`: {e}"))?
        .timeout(Some(timeout))
        .hello_name(ClientId::Domain(domain.clone()));
        if let Some(port) = endpoint.port {
            builder = builder.port(port);
        }
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        Ok(Self { transport: builder.build(), from, domain })
    }

    /// Send `message` to `to` with the Message-ID `<message_id@braid's host>` and the Date
    /// `date`; `Err` is a short reason for `last_error`, and says whether a retry can help.
    pub async fn send(&self, to: &str, message_id: &str, message: Rendered, date: SystemTime) -> Result<(), SendError> {
        let to: Mailbox = to.parse().map_err(|e| SendError::Permanent(format!("bad recipient address: {e}")))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject)
            .message_id(Some(format!("<{message_id}@{}>", self.domain)))
            .date(date)
            .multipart(MultiPart::alternative_plain_html(message.text, message.html))
            .map_err(|e| SendError::Permanent(format!("message not built: {e}")))?;
        self.transport.send(email).await.map(drop).map_err(|e| {
            // A 5xx reply (no such mailbox, policy refusal) will be the same next time: give up
            // at once rather than retry it for hours. Anything else (4xx, down, TLS) may pass.
            if e.is_permanent() { SendError::Permanent(describe(&e)) } else { SendError::Retry(describe(&e)) }
        })
    }
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Retrying cannot help (the address is not one).
    Permanent(String),
    /// The server was unreachable or refused; try again later.
    Retry(String),
}

/// The error and its causes, on one line.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> EmailSettings {
        EmailSettings {
            smtp_url: url.into(),
            from: "braid <braid@example.com>".into(),
            starttls: None,
            username: None,
            password: None,
            password_file: None,
        }
    }

    fn keys(s: &EmailSettings) -> Vec<String> {
        check(Some(s)).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn the_url_gives_the_security_and_loopback_relays_need_no_starttls() {
        let e = settings("smtp://127.0.0.1:2525").endpoint().unwrap();
        assert_eq!((e.security, e.host.as_str(), e.port, e.loopback), (Security::Plain, "127.0.0.1", Some(2525), true));
        assert_eq!(settings("smtp://mail.example.com").endpoint().unwrap().security, Security::StartTls);
        assert_eq!(settings("smtps://mail.example.com:465").endpoint().unwrap().security, Security::Tls);
        assert_eq!(settings("smtp://[::1]:25").endpoint().unwrap().host, "::1");
        let mut s = settings("smtp://localhost");
        s.starttls = Some(true);
        assert_eq!(s.endpoint().unwrap().security, Security::StartTls);
        assert!(check(None).is_empty());
        assert!(check(Some(&settings("smtp://127.0.0.1:2525"))).is_empty());
    }

    #[test]
    fn bad_values_name_their_key() {
        for url in ["http://mail.example.com", "smtp://", "smtp://u:p@mail.example.com", "smtp://h/x", "nonsense"] {
            assert_eq!(keys(&settings(url)), ["notify.email.smtp_url"], "{url}");
        }
        let mut s = settings("smtps://mail.example.com");
        s.starttls = Some(true);
        assert_eq!(keys(&s), ["notify.email.starttls"]);
        let mut s = settings("smtp://mail.example.com");
        s.from = "not an address".into();
        assert_eq!(keys(&s), ["notify.email.from"]);
        s.from = "braid@example.com".into();
        s.username = Some("braid".into());
        assert_eq!(keys(&s), ["notify.email.password"]);
        s.password = Some(SecretString::from("${BRAID_TEST_SMTP_PASSWORD_UNSET}".to_owned()));
        let problems = check(Some(&s));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "notify.email.password");
        assert!(problems[0].1.contains("BRAID_TEST_SMTP_PASSWORD_UNSET"), "{problems:?}");
        s.password_file = Some("/nonexistent".into());
        assert_eq!(keys(&s), ["notify.email.password_file"]);
        s.password = None;
        s.username = None;
        let problems = check(Some(&s));
        assert_eq!(problems[0].0, "notify.email.password_file", "{problems:?}");
    }

    #[test]
    fn settings_check_reports_the_email_keys_and_unknown_ones_are_refused() {
        let parse = |t: &str| toml::from_str::<crate::config::Settings>(t);
        let s = parse("[notify.email]\nsmtp_url = \"ftp://mail.example.com\"\nfrom = \"braid@example.com\"\n").unwrap();
        let e = s.check("braid.toml").expect_err("refused").to_string();
        assert!(e.contains("braid.toml: key `notify.email.smtp_url`: the scheme must be smtp or smtps"), "{e}");
        let ok = parse("[notify.email]\nsmtp_url = \"smtp://127.0.0.1:2525\"\nfrom = \"braid@example.com\"\n").unwrap();
        assert!(ok.check("braid.toml").is_ok());
        assert!(parse("[notify.email]\nsmtp_url = \"smtp://h\"\nfrom = \"a@b.c\"\nsmtp_port = 25\n").is_err());
        assert!(parse("[notify.email]\nfrom = \"a@b.c\"\n").is_err(), "smtp_url is required");
    }

    #[test]
    fn a_password_never_crosses_the_network_in_clear() {
        let dir = tempfile_path("smtp-password");
        std::fs::write(&dir, "pw\n").unwrap();
        let mut s = settings("smtp://mail.example.com");
        s.username = Some("braid".into());
        s.password_file = Some(dir.clone());
        assert!(check(Some(&s)).is_empty());
        s.starttls = Some(false);
        assert_eq!(keys(&s), ["notify.email.starttls"]);
        s.smtp_url = "smtp://127.0.0.1:25".into();
        assert!(check(Some(&s)).is_empty(), "loopback relays may take a password in clear");
        let _ = std::fs::remove_file(dir);
    }

    fn tempfile_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("braid-{name}-{}", crate::ids::random_token(8)))
    }
}

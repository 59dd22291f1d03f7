//! The email to the person about a change of their account: which changes send one
//! ([`notifies`]), the facts an outbox row keeps ([`ChangeFacts`]), and the subject, plain text
//! and HTML rendered from them with the templates of `templates/email/` ([`render`]).
//!
//! The templates are embedded at build time. A placeholder is `{{name}}`; they are filled in one
//! pass, so a value that itself holds `{{…}}` is never expanded. Every value is HTML-escaped in
//! the HTML part, and control characters are removed from every value (no forged lines).

use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;

const TEXT_TEMPLATE: &str = include_str!("../../templates/email/change.txt");
const HTML_TEMPLATE: &str = include_str!("../../templates/email/change.html");

/// What an email reports: written into the outbox with the change, rendered when sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeFacts {
    /// The event type, as in the webhook (`identity.linked`, …).
    pub action: String,
    /// When the change was committed.
    pub at: UnixMillis,
    /// The client address the change came from, when it came over HTTP.
    pub ip: Option<String>,
    /// Who made it: `account:<id>`, `admin:<name>` or `system`.
    pub actor: String,
    /// The account changed (for a move, the one the identity left; for a merge, the one merged).
    pub account: String,
    /// The other account of a move (destination) or a merge (the account merged into).
    pub other_account: Option<String>,
    /// The identity concerned, if any (none for a merge).
    pub identity: Option<IdentityFacts>,
}

/// The identity a change concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityFacts {
    /// Upstream issuer.
    pub issuer: String,
    /// Upstream subject.
    pub subject: String,
    /// Its email, as the upstream gave it.
    pub email: Option<String>,
}

/// The subject line of each change that sends an email; `None` for changes that send none.
fn subject_of(action: &str) -> Option<&'static str> {
    Some(match action {
        "identity.linked" => "An identity was linked to your account",
        "identity.unlinked" => "An identity was unlinked from your account",
        "identity.sign_in_allowed" => "Sign-in with an identity of your account was turned on",
        "identity.sign_in_forbidden" => "Sign-in with an identity of your account was turned off",
        "account.primary_changed" => "The primary identity of your account changed",
        "identity.moved" => "An identity of your account was moved to another account",
        "account.merged" => "Your accounts were merged",
        _ => return None,
    })
}

/// Whether the change `action` sends an email to the person: link, unlink, the sign-in switch,
/// a primary change, a move and a merge.
pub fn notifies(action: &str) -> bool {
    subject_of(action).is_some()
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The text/plain part.
    pub text: String,
    /// The text/html part.
    pub html: String,
}

/// The sentence saying what changed.
fn what(f: &ChangeFacts) -> String {
    let other = f.other_account.as_deref().unwrap_or("(unknown)");
    let account = f.account.as_str();
    match f.action.as_str() {
        "identity.linked" => {
            format!("The identity below was linked to your account {account}: it can now be used to sign in to it.")
        }
        "identity.unlinked" => format!(
            "The identity below was unlinked from your account {account}: it can no longer be used to sign in to it."
        ),
        "identity.sign_in_allowed" => {
            format!("Signing in with the identity below was turned on for your account {account}.")
        }
        "identity.sign_in_forbidden" => {
            format!("Signing in with the identity below was turned off for your account {account}.")
        }
        "account.primary_changed" => format!(
            "The identity below is now the primary identity of your account {account}: applications receive its \
             email address and name."
        ),
        "identity.moved" => format!("The identity below was moved from account {account} to account {other}."),
        "account.merged" => format!(
            "Account {account} was merged into account {other}: every identity of the first now belongs to the \
             second, and the first can no longer be used."
        ),
        action => format!("Your account {account} changed ({action})."),
    }
}

/// Who made the change, in words.
fn actor(f: &ChangeFacts) -> String {
    if let Some(account) = f.actor.strip_prefix("account:") {
        format!("a person signed in to account {account}")
    } else if let Some(name) = f.actor.strip_prefix("admin:") {
        format!("an administrator ({name})")
    } else if f.actor == "system" {
        "braid itself, at a sign-in".into()
    } else {
        f.actor.clone()
    }
}

/// `at` as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(at: UnixMillis) -> String {
    match chrono::DateTime::from_timestamp_millis(at) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => format!("{at} ms after 1970-01-01 UTC"),
    }
}

/// The message for `facts`, sent to `recipient`; `public_url` is braid's, without a trailing
/// slash. `None` if the change sends no email.
pub fn render(facts: &ChangeFacts, recipient: &str, public_url: &str) -> Option<Rendered> {
    let subject = subject_of(&facts.action)?;
    let site = url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| public_url.to_owned());
    let none = "(none)".to_owned();
    let (issuer, subj, identity_email) = match &facts.identity {
        Some(i) => (i.issuer.clone(), i.subject.clone(), i.email.clone().unwrap_or_else(|| none.clone())),
        None => ("(every identity of the account)".to_owned(), none.clone(), none),
    };
    let values = [
        ("subject_line", subject.to_owned()),
        ("what", what(facts)),
        ("when", utc(facts.at)),
        ("ip", facts.ip.clone().unwrap_or_else(|| "not known (not made over the web)".into())),
        ("actor", actor(facts)),
        ("issuer", issuer),
        ("subject", subj),
        ("identity_email", identity_email),
        ("account_url", format!("{public_url}/account")),
        ("recipient", recipient.to_owned()),
        ("site", site),
    ];
    Some(Rendered {
        subject: clean(subject),
        text: fill(TEXT_TEMPLATE, &values, clean),
        html: fill(HTML_TEMPLATE, &values, |v| escape_html(&clean(v))),
    })
}

/// `s` without control characters.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// Escape text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Replace each `{{name}}` of `template` with `encode(value)`, in one pass; an unknown name is
/// left as it is (the unit tests make sure the templates use known names only).
fn fill(template: &str, values: &[(&str, String)], encode: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match values.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => out.push_str(&encode(v)),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(action: &str) -> ChangeFacts {
        ChangeFacts {
            action: action.into(),
            at: 1_700_000_000_000,
            ip: Some("192.0.2.7".into()),
            actor: "account:aX".into(),
            account: "aX".into(),
            other_account: Some("aY".into()),
            identity: Some(IdentityFacts {
                issuer: "https://idp.example".into(),
                subject: "alice-sub".into(),
                email: Some("eve@example.com".into()),
            }),
        }
    }

    #[test]
    fn every_placeholder_of_the_templates_is_filled() {
        for action in [
            "identity.linked",
            "identity.unlinked",
            "identity.sign_in_allowed",
            "identity.sign_in_forbidden",
            "account.primary_changed",
            "identity.moved",
            "account.merged",
        ] {
            let r = render(&facts(action), "to@example.com", "https://auth.example.com").expect(action);
            for part in [&r.text, &r.html] {
                assert!(!part.contains("{{") && !part.contains("}}"), "{action}: {part}");
                assert!(part.contains("alice-sub") && part.contains("to@example.com"), "{action}: {part}");
            }
            assert!(r.text.contains("2023-11-14 22:13:20 UTC"), "{}", r.text);
            assert!(r.text.contains("192.0.2.7") && r.html.contains("192.0.2.7"));
            assert!(r.text.contains("https://auth.example.com/account"));
            assert!(r.html.contains("href=\"https://auth.example.com/account\""));
        }
        assert_eq!(render(&facts("account.disabled"), "to@example.com", "https://a.example"), None);
    }

    #[test]
    fn values_are_html_escaped_and_never_expanded_again() {
        let mut f = facts("identity.linked");
        if let Some(i) = f.identity.as_mut() {
            i.subject = "<b>{{recipient}}</b>&\"'".into();
        }
        let r = render(&f, "to@example.com", "https://auth.example.com").unwrap();
        assert!(r.html.contains("&lt;b&gt;{{recipient}}&lt;/b&gt;&amp;&quot;&#39;"), "{}", r.html);
        assert!(!r.html.contains("<b>"));
        // The text part keeps the value as it is, and `{{recipient}}` in it stays literal.
        assert!(r.text.contains("<b>{{recipient}}</b>&\"'"), "{}", r.text);
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        let mut f = facts("identity.linked");
        f.ip = Some("1.2.3.4\r\nChanged by: nobody".into());
        let r = render(&f, "to@example.com", "https://auth.example.com").unwrap();
        assert!(r.text.contains("1.2.3.4Changed by: nobody"), "{}", r.text);
        assert!(!r.subject.contains('\n'));
    }

    #[test]
    fn a_merge_names_both_accounts_and_no_identity() {
        let mut f = facts("account.merged");
        f.identity = None;
        let r = render(&f, "to@example.com", "https://auth.example.com").unwrap();
        assert!(r.text.contains("Account aX was merged into account aY"), "{}", r.text);
        assert!(r.text.contains("(every identity of the account)"));
    }
}

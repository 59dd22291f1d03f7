//! SAML provider hardening: IdP-initiated sign-in together with linking by email is a
//! configuration error (`braid check`, the reload).

use crate::saml_sp::spawn_saml;

const BASE: &str =
    "kind = \"saml\"\nissuer = \"https://idp.example.test/saml\"\nidp_metadata_url = \"https://idp.example.test/md\"\n";

#[tokio::test]
async fn idp_initiated_sign_in_with_link_by_email_is_a_config_error_for_check_and_the_reload() {
    let path = std::path::Path::new("providers/corp.toml");
    let bad = format!("{BASE}allow_idp_initiated = true\non_new_identity = \"link_by_email\"\ntrust_email = true\n");
    let e = braid::upstream::parse_file(path, &bad).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0].source.as_str(), e[0].key.as_str()), ("providers/corp.toml", "allow_idp_initiated"));
    assert!(e[0].reason.contains("link_by_email") && e[0].reason.contains("unsolicited"), "{}", e[0].reason);
    // Either one alone is fine.
    assert!(braid::upstream::parse_file(path, &format!("{BASE}allow_idp_initiated = true\n")).is_ok());
    assert!(braid::upstream::parse_file(path, &format!("{BASE}on_new_identity = \"link_by_email\"\n")).is_ok());

    // `braid check` names file and key, and fails.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/corp.toml"), &bad).unwrap();
    let o =
        std::process::Command::new(env!("CARGO_BIN_EXE_braid")).current_dir(dir.path()).arg("check").output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("corp.toml") && stderr.contains("allow_idp_initiated"), "{stderr}");

    // The reload reports it and keeps the last good version of the provider.
    let s = spawn_saml("on_new_identity = \"link_by_email\"").await;
    let file = s.app.dir().join("providers/idp.toml");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{good}allow_idp_initiated = true\n")).unwrap();
    let problems = s.app.state.providers.reload();
    assert!(problems.iter().any(|p| p.key == "allow_idp_initiated" && p.source.ends_with("idp.toml")), "{problems:?}");
    let snapshot = s.app.state.providers.snapshot();
    let Some(braid::upstream::Protocol::Saml(client)) = snapshot.enabled("idp").map(|p| p.protocol.clone()) else {
        panic!("the last good SAML provider stays");
    };
    assert!(!client.settings.allow_idp_initiated);
}

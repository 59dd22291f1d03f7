//! SAML 2.0 service provider (in progress; `kind = "saml"` is still refused). What exists: the
//! gate every SAML message passes before any XML library of samael's sees it. The plan for the
//! rest is `docs/saml-plan.md`.

pub mod gate;

//! braid's integration tests: one binary, modules by area. `spawn_app()` starts braid on port 0.

mod account_links;
mod admin_cli;
mod account_store;
mod authorize_errors;
mod backchannel_logout;
mod browser;
mod cli;
mod fail_closed;
mod grant_store;
mod helpers;
mod interop_oidc;
mod linking;
mod mock_idp;
mod provider_reload;
mod reauth_and_revoke;
mod replicas;
mod session_store;
mod shutdown;
mod sign_in;
mod support;
mod token_errors;
mod upstream_oauth2;
mod upstream_oidc;
mod upstream_params;
mod webhooks;
mod wycheproof;

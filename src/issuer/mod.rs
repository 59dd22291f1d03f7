//! braid as an OpenID Provider: signing keys, JWKS and discovery, the code flow (`/authorize`,
//! `/token`), `/userinfo`, `/logout`, and the durable refresh-token families.

pub mod app_logout;
pub mod authorize;
pub mod claims_request;
pub mod client_auth;
pub mod clients;
pub mod discovery;
pub mod frontchannel;
pub mod grants;
pub mod introspect;
pub mod jwt;
pub mod keyring;
pub mod keys;
pub mod logout;
pub mod par;
pub mod revoke;
pub mod shape;
pub mod token;
pub mod userinfo;

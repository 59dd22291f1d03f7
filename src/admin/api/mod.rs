//! The admin API under `/admin/v1`: bearer-token authentication, RFC 9457 problems, the OpenAPI
//! document, and the account, identity, audit and session endpoints over the admin services.

//! Administration: operations an admin runs on accounts (shared by the CLI and the admin API),
//! the `[admin]` settings and tokens, the catalog of providers and clients registered at run
//! time, and the admin API itself.

pub mod accounts;
pub mod accounts_cli;
pub mod api;
pub mod catalog;
pub mod console;
pub mod settings;

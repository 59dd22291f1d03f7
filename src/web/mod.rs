//! Server-rendered pages for people: the login chooser, the account page, error pages, and the
//! built-in demo application.

pub mod account;
pub mod client_ip;
pub mod cookies;
pub mod demo;
pub mod html;
pub mod login;

//! Administration: operations an admin runs on accounts (the CLI today, the admin API later).

pub mod accounts;

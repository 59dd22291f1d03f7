//! braid's integration tests: one binary, modules by area. `spawn_app()` starts braid on port 0.

mod account_store;
mod session_store;
mod support;

//! Applications that speak no OpenID Connect, behind braid: the route table (`[[routes]]`),
//! forward-auth for a proxy that is already there (`/auth/verify`, `/auth/forward`), the
//! sign-in and sign-out links a proxy sends people to (`/auth/start`, `/auth/sign-out`), and
//! braid's own reverse proxy for routes with an `upstream` (`reverse`, `upstream`, `bodies`,
//! `headers`, `timeouts`, `tls`); `sessions`, `assertions` and each connection's `recall` keep
//! what every request would otherwise decode or sign again.

pub mod assertions;
pub mod bodies;
pub mod forward;
pub mod headers;
pub mod recall;
pub mod reverse;
pub mod sessions;
pub mod start;
pub mod table;
pub mod timeouts;
pub mod tls;
pub mod upstream;

pub use table::{Route, RouteTable};

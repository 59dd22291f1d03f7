//! Applications that speak no OpenID Connect, behind braid: the route table (`[[routes]]`),
//! forward-auth for a proxy that is already there (`/auth/verify`, `/auth/forward`), and the
//! sign-in and sign-out links a proxy sends people to (`/auth/start`, `/auth/sign-out`).

pub mod forward;
pub mod start;
pub mod table;

pub use table::{Route, RouteTable};

//! The JSON API, `/api/v1/…`, one module per area, and its description (`openapi`,
//! `wire_schema`). Handlers parse, call the domain with the session's `Principal` and answer
//! JSON; errors go through `web::error::ApiError`. Each area's routes are in `web::route_table`
//! with their access class and audit declaration.

pub mod audit;
pub mod audit_timeline;
pub mod audit_trace;
pub mod auth;
pub mod calls;
pub mod extracts;
pub mod extracts_wire;
pub mod followup;
pub mod health;
pub mod openapi;
pub mod passkeys;
pub mod policy;
pub mod policy_change;
pub mod recertify;
pub mod reports;
pub mod roles;
pub mod samples;
pub mod users;
pub mod wire_schema;

//! The HTTP face of the authentication service: configuration, wiring, routes and error mapping.
//!
//! Architecture invariant: no business rule lives here. Handlers decode a request, call one use
//! case of the one area service of `auth_domain::services` they extract (`web::Data<LoginService>`,
//! ...), and encode its answer; `error.rs` is the one place where
//! domain errors become HTTP statuses.

pub mod app_services;
pub mod cli;
pub mod config;
pub mod error;
pub mod extractors;
pub mod openapi;
pub mod probes;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod tasks;
pub mod telemetry;

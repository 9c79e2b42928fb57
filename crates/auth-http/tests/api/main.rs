//! HTTP integration tests: each starts the real application on a random port with a fresh
//! database (SQLite, or a fresh PostgreSQL schema for the production-mode suites) and mail outbox,
//! and talks HTTP to it.

mod admin;
mod attacks;
mod bad_input;
mod cli;
mod client_auth;
mod durability;
mod faults;
mod fuzz;
mod helpers;
mod hygiene;
mod infra;
mod keys;
mod limits;
mod logout;
mod methods;
mod mfa;
mod nginx;
mod oauth;
mod openapi;
mod password;
mod processes;
mod refresh;
mod replicas;
mod revocations;
mod secrets;
mod sessions;
mod smtp;
mod traces;
mod verifier;
mod walkthrough;

//! HTTP integration tests: each starts the real application on a random port with a fresh SQLite
//! database and mail outbox, and talks HTTP to it.

mod bad_input;
mod cli;
mod helpers;
mod logout;
mod refresh;
mod sessions;
mod walkthrough;

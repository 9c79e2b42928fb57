//! The verifier against a fake auth server on 127.0.0.1:0 (`support.rs`): one test binary.

mod support;

#[cfg(feature = "actix")]
mod extractor;
mod keys;
mod revocations;
mod tidy;
mod tokens;

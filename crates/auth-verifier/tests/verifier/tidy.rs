//! Tidy check: the verifier stays a standalone client library, through every transitive
//! dependency, with every feature on.

use std::collections::BTreeSet;
use std::process::Command;

/// The service's own crates (a downstream service must not pull the server in), and the crypto
/// backend whose presence next to `rust_crypto` would make jsonwebtoken panic.
const FORBIDDEN: &[&str] = &["auth-domain", "auth-adapters", "auth-http", "aws-lc-rs", "aws-lc-sys", "openssl"];

#[test]
fn the_verifier_depends_on_neither_the_service_nor_a_second_crypto_backend() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["tree", "--package", "auth-verifier", "--edges", "normal", "--prefix", "none", "--offline"])
        .args(["--all-features", "--manifest-path", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")])
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8_lossy(&output.stdout);
    let crates: BTreeSet<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert!(crates.contains("jsonwebtoken") && crates.contains("actix-web"), "the listing looks wrong: {crates:?}");
    let offending: Vec<&str> = crates.into_iter().filter(|name| FORBIDDEN.contains(name)).collect();
    assert!(offending.is_empty(), "auth-verifier depends on {offending:?}");
}

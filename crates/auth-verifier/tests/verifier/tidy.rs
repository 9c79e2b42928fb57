//! Tidy check: the verifier stays a standalone client library, through every transitive
//! dependency, with every feature on.

use std::collections::BTreeSet;
use std::process::Command;

/// The service's own crates (a downstream service must not pull the server in), and OpenSSL.
const FORBIDDEN: &[&str] = &["auth-domain", "auth-adapters", "auth-http", "openssl"];

/// jsonwebtoken's other crypto backend: with it enabled next to `rust_crypto`, every encode and
/// decode panics unless a provider was installed first. (aws-lc-rs itself may be in the tree, for
/// rustls, under the `rustls` feature: that is not this.)
const FORBIDDEN_FEATURE: &str = "jsonwebtoken feature \"aws_lc_rs\"";

fn tree(edges: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // Cargo may fetch here: `--all-features` resolves crates that a plain build never downloads, so on a
    // fresh machine a cache-only `cargo tree` fails; cargo may fetch them, as the build itself does.
    let output = Command::new(cargo)
        .args(["tree", "--package", "auth-verifier", "--edges", edges, "--prefix", "none"])
        .args(["--all-features", "--manifest-path", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")])
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_verifier_depends_on_neither_the_service_nor_a_second_jwt_crypto_backend() {
    let tree_of_crates = tree("normal");
    let crates: BTreeSet<&str> = tree_of_crates.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert!(crates.contains("jsonwebtoken") && crates.contains("actix-web"), "the listing looks wrong: {crates:?}");
    let offending: Vec<&str> = crates.into_iter().filter(|name| FORBIDDEN.contains(name)).collect();
    assert!(offending.is_empty(), "auth-verifier depends on {offending:?}");

    let features = tree("normal,features");
    assert!(features.contains("jsonwebtoken feature \"rust_crypto\""), "the feature listing looks wrong");
    assert!(!features.contains(FORBIDDEN_FEATURE), "auth-verifier enables {FORBIDDEN_FEATURE}");
}

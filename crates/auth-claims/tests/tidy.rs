//! Tidy check: every service that verifies our tokens links this crate, so it stays serde types.

use std::collections::BTreeSet;
use std::process::Command;

/// The direct dependencies allowed: the derive and the UUID type the ids wrap.
const ALLOWED: &[&str] = &["serde", "uuid"];

#[test]
fn the_claims_crate_depends_on_serde_and_uuid_only() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // As the domain's tidy test: `cargo tree` for this platform, which may fetch on a fresh machine.
    let output = Command::new(cargo)
        .args(["tree", "--package", "auth-claims", "--edges", "normal", "--depth", "1", "--prefix", "none"])
        .args(["--manifest-path", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")])
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8_lossy(&output.stdout);
    let direct: BTreeSet<&str> = tree.lines().skip(1).filter_map(|line| line.split_whitespace().next()).collect();
    assert!(direct.contains("serde"), "the listing looks wrong: {direct:?}");
    let extra: Vec<&str> = direct.into_iter().filter(|name| !ALLOWED.contains(name)).collect();
    assert!(extra.is_empty(), "auth-claims depends on {extra:?}; it must stay serde types only");
}

//! Tidy check: the domain crate stays free of infrastructure, through every transitive dependency.

use std::collections::BTreeSet;
use std::process::Command;

/// Crates that would tie the domain to a web framework, database, cache, mailer, runtime, JWT
/// library or password hasher. Matched on the crate name, or its prefix for families.
const FORBIDDEN: &[&str] =
    &["actix", "diesel", "deadpool", "redis", "lettre", "reqwest", "sqlx", "tokio", "hyper", "jsonwebtoken", "argon2"];

fn is_forbidden(name: &str) -> bool {
    FORBIDDEN.iter().any(|forbidden| {
        name == *forbidden || name.starts_with(&format!("{forbidden}-")) || name.starts_with(&format!("{forbidden}_"))
    })
}

#[test]
fn the_domain_depends_on_no_infrastructure_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // `cargo tree` resolves for this platform only, unlike `cargo metadata`. Cargo may fetch: on a
    // fresh machine the crates it resolves may not be downloaded yet, and cargo may fetch them.
    let output = Command::new(cargo)
        .args(["tree", "--package", "auth-domain", "--edges", "normal", "--prefix", "none"])
        .args(["--manifest-path", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")])
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8_lossy(&output.stdout);
    let crates: BTreeSet<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert!(crates.contains("async-trait"), "the listing looks wrong: {crates:?}");
    let offending: Vec<&str> = crates.into_iter().filter(|name| is_forbidden(name)).collect();
    assert!(
        offending.is_empty(),
        "auth-domain depends on infrastructure: {offending:?}; move that code to auth-adapters"
    );
}

#[test]
fn the_check_recognises_infrastructure_names() {
    assert!(is_forbidden("tokio"));
    assert!(is_forbidden("actix-web"));
    assert!(is_forbidden("diesel_migrations"));
    assert!(!is_forbidden("async-trait"));
    assert!(!is_forbidden("tokio2"));
}

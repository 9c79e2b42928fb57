//! Developer and operator tasks for a checkout, run as `cargo xtask TASK`.
//!
//! Operational tasks live in the shipped `auth-http` binary (production has no cargo); the tasks
//! here only wrap it, or chain the checks CI runs.

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  migrate                      apply pending migrations to AUTH_DATABASE_URL (auth-http migrate)
  users grant-role EMAIL ROLE  give a role to an account (auth-http users grant-role)
  users revoke-role EMAIL ROLE take a role away (auth-http users revoke-role)
  ci                           the checks of .ci/run: fmt, clippy, tests";

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match run(&arguments) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(arguments: &[String]) -> anyhow::Result<()> {
    match arguments.first().map(String::as_str) {
        Some("migrate" | "users") => auth_http(arguments),
        Some("ci") => {
            cargo(&["fmt", "--all", "--check"])?;
            cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
            cargo(&["test", "--workspace"])
        }
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}

/// Runs the shipped binary with these arguments, built from this checkout.
fn auth_http(arguments: &[String]) -> anyhow::Result<()> {
    let mut command_line = vec!["run", "--quiet", "--package", "auth-http", "--"];
    command_line.extend(arguments.iter().map(String::as_str));
    cargo(&command_line)
}

fn cargo(arguments: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo).args(arguments).status().with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", arguments.join(" "));
    }
    Ok(())
}

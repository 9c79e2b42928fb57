//! Developer and operator tasks for a checkout, run as `cargo xtask TASK`.
//!
//! Operational tasks live in the shipped `auth-http` binary (production has no cargo); the tasks
//! here only wrap it, or chain the checks CI runs.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  migrate                      apply pending migrations to AUTH_DATABASE_URL (auth-http migrate)
  users grant-role EMAIL ROLE  give a role to an account (auth-http users grant-role)
  users revoke-role EMAIL ROLE take a role away (auth-http users revoke-role)
  keys rotate [--activate-after D | --now]
                               publish the next signing key, which signs after the publish lead
  keys list                    every signing key and its status (auth-http keys list)
  keys retire KID              take a key that is not current out at once (auth-http keys retire)
  openapi                      write the OpenAPI document to docs/openapi.json (auth-http openapi)
  openapi --check              fail when docs/openapi.json differs from what the code generates
  loadtest [--quick] [--mode embedded|postgres] [--json PATH] [--scenario NAME,...] [--duration S]
                               build the release service and load harness, start the service on
                               fresh state, drive it and report figures with their limits
                               (docs/performance.md)
  ci                           the checks of .ci/run: fmt, clippy, tests";

/// Where the OpenAPI document is kept, relative to the workspace root.
const OPENAPI_FILE: &str = "docs/openapi.json";

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
        Some("migrate" | "users" | "keys") => auth_http(arguments),
        Some("openapi") => match &arguments[1..] {
            [] => write_openapi(),
            [flag] if flag == "--check" => check_openapi(),
            _ => bail!("usage: cargo xtask openapi [--check]"),
        },
        Some("loadtest") => loadtest(&arguments[1..]),
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

/// The document as the shipped binary prints it (`auth-http openapi`), built from this checkout.
fn generated_openapi() -> anyhow::Result<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(&cargo)
        .args(["run", "--quiet", "--package", "auth-http", "--", "openapi"])
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !output.status.success() {
        bail!("auth-http openapi failed ({})", output.status);
    }
    String::from_utf8(output.stdout).context("auth-http openapi printed something that is not UTF-8")
}

fn openapi_path() -> PathBuf {
    workspace_root().join(OPENAPI_FILE)
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or_else(|| Path::new("."))
}

fn write_openapi() -> anyhow::Result<()> {
    let document = generated_openapi()?;
    let path = openapi_path();
    std::fs::write(&path, document).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {OPENAPI_FILE}");
    Ok(())
}

fn check_openapi() -> anyhow::Result<()> {
    let generated = generated_openapi()?;
    let path = openapi_path();
    let committed = match std::fs::read_to_string(&path) {
        Ok(committed) => committed,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    match first_difference(&committed, &generated) {
        None => {
            println!("{OPENAPI_FILE} is up to date");
            Ok(())
        }
        Some(line) => bail!(
            "{OPENAPI_FILE} is stale: it differs from what the code generates from line {line} on; \
             run `cargo xtask openapi` and commit the result"
        ),
    }
}

/// The first line (counted from 1) where two texts differ, or `None` when they are equal.
fn first_difference(committed: &str, generated: &str) -> Option<usize> {
    if committed == generated {
        return None;
    }
    let mut committed_lines = committed.split_inclusive('\n');
    let mut generated_lines = generated.split_inclusive('\n');
    let mut line = 1;
    loop {
        match (committed_lines.next(), generated_lines.next()) {
            (Some(left), Some(right)) if left == right => line += 1,
            _ => return Some(line),
        }
    }
}

/// Builds the release service and the load harness, then runs the harness against the service.
///
/// Two builds, not one: built together, Cargo would unify the features of both dependency trees,
/// and the service measured would not be the binary `cargo build --release -p auth-http` ships.
fn loadtest(arguments: &[String]) -> anyhow::Result<()> {
    cargo(&["build", "--release", "--quiet", "--package", "auth-http"])?;
    cargo(&["build", "--release", "--quiet", "--package", "auth-loadtest"])?;
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(folder) => PathBuf::from(folder),
        None => workspace_root().join("target"),
    };
    let release = target.join("release");
    let status = Command::new(release.join("auth-loadtest"))
        .arg("--server-bin")
        .arg(release.join("auth-http"))
        .args(arguments)
        .current_dir(workspace_root())
        .status()
        .context("cannot run the load harness")?;
    if !status.success() {
        bail!("the load test failed ({status})");
    }
    Ok(())
}

fn cargo(arguments: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo).args(arguments).status().with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", arguments.join(" "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    #[test]
    fn equal_documents_have_no_difference() {
        assert_eq!(first_difference("{\n}\n", "{\n}\n"), None);
    }

    #[test]
    fn the_first_differing_line_is_named() {
        assert_eq!(first_difference("{\n  \"a\": 1\n}\n", "{\n  \"a\": 2\n}\n"), Some(2));
        assert_eq!(first_difference("", "{}\n"), Some(1));
    }

    #[test]
    fn a_missing_final_newline_is_a_difference() {
        assert_eq!(first_difference("{\n}", "{\n}\n"), Some(2));
        assert_eq!(first_difference("{\n}\n", "{\n}\n\n"), Some(3));
    }
}

//! `auth-loadtest`: the load harness behind `cargo xtask loadtest`.
//!
//! It starts the release `auth-http` binary (embedded, or PostgreSQL + Redis on fresh state),
//! seeds accounts through the API, measures the limits of this machine in the same run (the raw
//! Argon2id rate, the raw rotation-transaction rate, and a reference server that only verifies
//! the same tokens), then drives each scenario and reports every figure with its ratio to its
//! limit, as a table and as JSON. It sends traffic to 127.0.0.1 only, and every loop ends at a
//! deadline. It is not a test: nothing here runs under `cargo test`.

mod client;
mod limits;
mod options;
mod reference;
mod report;
mod scenarios;
mod seeding;
mod service;

use std::process::ExitCode;

use anyhow::Context;

use crate::options::Options;

/// The password of every seeded account (the policy accepts it).
const PASSWORD: &str = "violet-otter-sings-at-dawn-42";
/// Connections of the authenticated and refresh scenarios, and of the reference.
const CONNECTIONS: usize = 64;
/// Connections of the login scenarios: the service admits AUTH_HASH_CONCURRENCY (the CPUs) plus
/// AUTH_HASH_QUEUE (four times that) hashes before it answers 503; 8 stays under that on 2 CPUs.
const LOGIN_CONNECTIONS: usize = 8;
const TEN_THOUSAND: usize = 10_000;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = if arguments.first().map(String::as_str) == Some("reference-server") {
        reference::serve()
    } else {
        Options::parse(&arguments).and_then(run)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("auth-loadtest: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft limit of open files to the hard one (the children inherit it): the 10,000
/// connections need as many descriptors in the load generator and in the server.
fn raise_file_limit() -> anyhow::Result<u64> {
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    rlimit::Resource::NOFILE.set(hard, hard)?;
    Ok(hard)
}

fn run(options: Options) -> anyhow::Result<()> {
    let file_limit = raise_file_limit().context("cannot raise the open-file limit")?;
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(cpus).enable_all().build()?;
    let report = runtime.block_on(scenarios::drive(&options, cpus, file_limit))?;
    println!("{}", report.table());
    if let Some(path) = &options.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

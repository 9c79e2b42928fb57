//! The command line: which binary, mode and scenarios, and how long each runs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::CONNECTIONS;
use crate::service::Mode;

const USAGE: &str = "usage: auth-loadtest --server-bin PATH [--quick] [--mode embedded|postgres] [--json PATH]
                     [--scenario NAME[,NAME...]] [--duration SECONDS]

scenarios (all by default): login, login-half, me, verify, refresh, mix, c10k-open, c10k-closed
postgres mode: AUTH_LOADTEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres, a
database new ones can be created from) and AUTH_LOADTEST_REDIS_URL (default redis://127.0.0.1:6379)";

const ALL_SCENARIOS: [&str; 8] = ["login", "login-half", "me", "verify", "refresh", "mix", "c10k-open", "c10k-closed"];

#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) server_binary: PathBuf,
    pub(crate) quick: bool,
    pub(crate) mode: Mode,
    pub(crate) json: Option<PathBuf>,
    pub(crate) scenarios: Vec<String>,
    pub(crate) duration: Option<Duration>,
}

impl Options {
    pub(crate) fn parse(arguments: &[String]) -> anyhow::Result<Self> {
        let mut options = Self {
            server_binary: PathBuf::new(),
            quick: false,
            mode: Mode::Embedded,
            json: None,
            scenarios: Vec::new(),
            duration: None,
        };
        let mut arguments = arguments.iter();
        while let Some(argument) = arguments.next() {
            let mut value = || arguments.next().with_context(|| format!("{argument} needs a value\n\n{USAGE}"));
            match argument.as_str() {
                "--server-bin" => options.server_binary = PathBuf::from(value()?),
                "--quick" => options.quick = true,
                "--mode" => {
                    options.mode = match value()?.as_str() {
                        "embedded" => Mode::Embedded,
                        "postgres" => Mode::Postgres,
                        other => bail!("--mode: expected embedded or postgres, got {other:?}"),
                    }
                }
                "--json" => options.json = Some(PathBuf::from(value()?)),
                "--scenario" => {
                    for name in value()?.split(',').map(str::trim).filter(|name| !name.is_empty()) {
                        if !ALL_SCENARIOS.contains(&name) {
                            bail!("unknown scenario {name:?}; known: {}", ALL_SCENARIOS.join(", "));
                        }
                        options.scenarios.push(name.to_owned());
                    }
                }
                "--duration" => {
                    let seconds: u64 = value()?.parse().context("--duration: a whole number of seconds")?;
                    options.duration = Some(Duration::from_secs(seconds.max(1)));
                }
                "--help" | "-h" => bail!("{USAGE}"),
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        if options.server_binary.as_os_str().is_empty() {
            bail!("--server-bin is required\n\n{USAGE}");
        }
        if options.scenarios.is_empty() {
            options.scenarios = ALL_SCENARIOS.iter().map(|name| (*name).to_owned()).collect();
        }
        Ok(options)
    }

    pub(crate) fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|name| name == scenario)
    }

    /// How long each closed-loop scenario is measured.
    pub(crate) fn duration(&self) -> Duration {
        self.duration.unwrap_or(if self.quick { Duration::from_secs(4) } else { Duration::from_secs(20) })
    }

    /// How long each runs before it is measured.
    pub(crate) fn warmup(&self) -> Duration {
        if self.quick { Duration::from_secs(1) } else { Duration::from_secs(3) }
    }

    pub(crate) fn open_loop_duration(&self) -> Duration {
        self.duration.map_or(if self.quick { Duration::from_secs(8) } else { Duration::from_secs(30) }, |d| d * 2)
    }

    pub(crate) fn accounts(&self) -> usize {
        if self.quick { CONNECTIONS } else { 4 * CONNECTIONS }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn every_scenario_runs_unless_some_are_named() {
        let options = Options::parse(&arguments("--server-bin x")).unwrap();
        assert_eq!(options.scenarios.len(), ALL_SCENARIOS.len());
        let options = Options::parse(&arguments("--server-bin x --scenario me,refresh --quick")).unwrap();
        assert!(options.wants("me") && options.wants("refresh") && !options.wants("login"));
        assert_eq!(options.duration(), Duration::from_secs(4));
    }

    #[test]
    fn unknown_scenarios_modes_and_a_missing_binary_are_refused() {
        assert!(Options::parse(&arguments("--server-bin x --scenario nap")).is_err());
        assert!(Options::parse(&arguments("--server-bin x --mode cloud")).is_err());
        assert!(Options::parse(&arguments("--quick")).is_err());
    }
}

//! The figures of a run, as a table for a person and as JSON for a machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::client::Outcome;
use crate::service::Memory;

/// One measured load: a scenario, or one operation of the mix.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub scenario: String,
    pub operation: String,
    pub connections: usize,
    /// `closed` (back to back), or `open N/s` (a fixed rate, whatever the answers).
    pub load: String,
    pub seconds: f64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// Answers by status; `0` counts transport failures.
    pub statuses: BTreeMap<u16, u64>,
    /// The most the server was resident while this ran (sampled every 200 ms), in MiB.
    pub server_rss_mib_max: f64,
    /// What this figure is compared with, its value, and the ratio.
    pub limit: Option<String>,
    pub limit_value: Option<f64>,
    pub ratio: Option<f64>,
    /// The goal of the issue this figure answers, and whether it holds.
    pub goal: Option<String>,
    pub goal_met: Option<bool>,
}

impl Figure {
    pub fn new(
        scenario: &str,
        operation: &str,
        connections: usize,
        load: String,
        seconds: f64,
        mut outcome: Outcome,
        server_rss_mib_max: f64,
    ) -> Self {
        let requests = outcome.requests();
        let requests_per_second = requests as f64 / seconds;
        Self {
            scenario: scenario.to_owned(),
            operation: operation.to_owned(),
            connections,
            load,
            seconds,
            requests,
            requests_per_second,
            p50_ms: outcome.quantile_ms(0.50),
            p95_ms: outcome.quantile_ms(0.95),
            p99_ms: outcome.quantile_ms(0.99),
            errors: outcome.errors(),
            statuses: outcome.statuses,
            server_rss_mib_max,
            limit: None,
            limit_value: None,
            ratio: None,
            goal: None,
            goal_met: None,
        }
    }

    /// Compares the rate with `limit` (a rate measured in the same run).
    pub fn against(mut self, limit: &str, value: Option<f64>) -> Self {
        if let Some(value) = value {
            self.limit = Some(limit.to_owned());
            self.limit_value = Some(value);
            self.ratio = Some(self.requests_per_second / value);
        }
        self
    }

    pub fn goal(mut self, goal: &str, met: Option<bool>) -> Self {
        self.goal = Some(goal.to_owned());
        self.goal_met = met;
        self
    }
}

/// The limits measured in the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Limits {
    /// Argon2id verifications per second, `argon2` crate alone, one thread per CPU.
    pub argon2_per_second: Option<f64>,
    /// Rotation transactions per second through the repository alone, 64 at once.
    pub rotations_per_second: Option<f64>,
    /// The reference server at the connections of the authenticated scenarios.
    pub reference: Option<Figure>,
    /// The reference server at 10,000 connections, closed-loop.
    pub reference_10k: Option<Figure>,
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: String,
    pub quick: bool,
    pub cpus: usize,
    pub seeded_accounts: usize,
    pub distinct_tokens_10k: usize,
    pub limits: Limits,
    pub figures: Vec<Figure>,
    /// The server at the end: resident now and at most (`VmHWM`).
    pub server_memory_end: Memory,
    pub server_log_bytes: u64,
    pub wall_seconds: f64,
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "-".to_owned()
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

impl Report {
    pub fn table(&self) -> String {
        let mut rows = vec![
            [
                "scenario",
                "operation",
                "conns",
                "load",
                "req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "errors",
                "RSS MiB",
                "limit",
                "ratio",
                "goal",
            ]
            .map(str::to_owned),
        ];
        let reference = [&self.limits.reference, &self.limits.reference_10k];
        for figure in reference.into_iter().flatten().chain(&self.figures) {
            rows.push([
                figure.scenario.clone(),
                figure.operation.clone(),
                figure.connections.to_string(),
                figure.load.clone(),
                number(figure.requests_per_second),
                number(figure.p50_ms),
                number(figure.p95_ms),
                number(figure.p99_ms),
                figure.errors.to_string(),
                number(figure.server_rss_mib_max),
                match (&figure.limit, figure.limit_value) {
                    (Some(name), Some(value)) => format!("{name} {}", number(value)),
                    _ => "-".to_owned(),
                },
                figure.ratio.map_or_else(|| "-".to_owned(), |ratio| format!("{ratio:.2}x")),
                match (&figure.goal, figure.goal_met) {
                    (Some(goal), Some(true)) => format!("{goal}: holds"),
                    (Some(goal), Some(false)) => format!("{goal}: FALLS SHORT"),
                    (Some(goal), None) => format!("{goal}: not measured"),
                    (None, _) => String::new(),
                },
            ]);
        }
        let widths: Vec<usize> =
            (0..13).map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0)).collect();
        let mut table = String::new();
        let _ = writeln!(
            table,
            "mode {}{}, {} CPUs, {} accounts, {} distinct tokens at 10k; Argon2id raw {} /s, rotation raw {} /s",
            self.mode,
            if self.quick { " (quick)" } else { "" },
            self.cpus,
            self.seeded_accounts,
            self.distinct_tokens_10k,
            self.limits.argon2_per_second.map_or_else(|| "-".to_owned(), number),
            self.limits.rotations_per_second.map_or_else(|| "-".to_owned(), number),
        );
        for row in &rows {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
            let _ = writeln!(table, "{}", cells.join("  ").trim_end());
        }
        let _ = writeln!(
            table,
            "server memory at the end: {} MiB resident, {} MiB at most (VmHWM); {} bytes of log; {:.0} s in all",
            number(self.server_memory_end.rss_mib),
            number(self.server_memory_end.peak_mib),
            self.server_log_bytes,
            self.wall_seconds,
        );
        table
    }
}

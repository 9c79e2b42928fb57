//! The scenarios: start the service, seed it, measure this machine's limits, drive each scenario
//! named on the command line, and gather the figures into a [`Report`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::client::{Account, Call, Connection, Outcome, Step, Window, closed_loop, open_loop, open_many};
use crate::options::Options;
use crate::report::{Figure, Limits, Report};
use crate::seeding::{log_in_all, mint_tokens, seed};
use crate::service::{Mode, Reference, Servers, Service};
use crate::{CONNECTIONS, LOGIN_CONNECTIONS, PASSWORD, TEN_THOUSAND, limits, service};

/// The most a process was resident since the last reset, sampled every 200 ms.
#[derive(Debug, Clone)]
struct MemoryWatch {
    max_kib: Arc<AtomicU64>,
}

impl MemoryWatch {
    fn start(pid: u32) -> Self {
        let max_kib = Arc::new(AtomicU64::new(0));
        let watched = max_kib.clone();
        tokio::spawn(async move {
            loop {
                let kib = (service::memory(pid).rss_mib * 1024.0) as u64;
                watched.fetch_max(kib, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self { max_kib }
    }

    /// The maximum since the last call, in MiB, and a new start.
    fn take_mib(&self) -> f64 {
        self.max_kib.swap(0, Ordering::Relaxed) as f64 / 1024.0
    }
}

fn say(message: &str) {
    eprintln!("auth-loadtest: {message}");
}

pub(crate) async fn drive(options: &Options, cpus: usize, file_limit: u64) -> anyhow::Result<Report> {
    let began = Instant::now();
    let quick = options.quick;
    say(&format!(
        "open-file limit {file_limit}; starting {} in the {} mode",
        options.server_binary.display(),
        options.mode.name()
    ));
    let service = Service::start(&options.server_binary, options.mode, &Servers::from_env()).await?;
    let address = service.address;
    let watch = MemoryWatch::start(service.pid());

    say(&format!("seeding {} accounts", options.accounts()));
    let mut accounts = seed(address, options.accounts()).await.with_context(|| service.log_tail())?;

    let mut limits = Limits::default();
    let limit_duration = if quick { Duration::from_secs(3) } else { Duration::from_secs(10) };
    if options.wants("login") || options.wants("login-half") {
        say("measuring the raw Argon2id rate");
        limits.argon2_per_second =
            Some(tokio::task::spawn_blocking(move || limits::argon2_rate(limit_duration)).await??);
    }
    if options.wants("refresh") {
        say("measuring the raw rotation-transaction rate");
        let extra = log_in_all(address, &accounts[..CONNECTIONS.min(accounts.len())]).await?;
        let tokens: Vec<String> = extra.into_iter().map(|tokens| tokens.refresh_token).collect();
        limits.rotations_per_second = Some(limits::rotation_rate(&service, &tokens, limit_duration).await?);
    }

    let duration = options.duration();
    let warmup = options.warmup();
    let authenticated = ["me", "verify", "mix", "c10k-open", "c10k-closed"];
    let reference = if authenticated.iter().any(|name| options.wants(name)) {
        let mut connection = Connection::open(address).await?;
        let (_, jwks) = connection.send(&Call::get_anonymous("/.well-known/jwks.json")).await?;
        let reference = Reference::start(std::str::from_utf8(&jwks)?)?;
        say("measuring the reference server");
        let steps = accounts.iter().cycle().take(CONNECTIONS).map(|account| fixed("verify", "/", account)).collect();
        let figure = closed(reference.address, steps, Window::after(warmup, duration), None).await?;
        limits.reference = figure.into_iter().next().map(|figure| named(figure, "reference", "GET (verify only)"));
        Some(reference)
    } else {
        None
    };
    let reference_rate = limits.reference.as_ref().map(|figure| figure.requests_per_second);
    let redis = options.mode == Mode::Postgres;
    let me_goal = if redis { ">= 0.8x reference (Redis revocation)" } else { ">= 1.0x reference" };
    let me_threshold = if redis { 0.8 } else { 1.0 };

    let mut figures = Vec::new();
    if options.wants("login") {
        say("login, closed-loop");
        let steps = accounts.iter().cycle().take(LOGIN_CONNECTIONS).map(login).collect();
        for figure in closed(address, steps, Window::after(warmup, duration), Some(&watch)).await? {
            let figure = named(figure, "login", "POST /v1/auth/login").against("argon2 raw", limits.argon2_per_second);
            let met = figure.ratio.map(|ratio| ratio >= 0.9);
            figures.push(figure.goal(">= 0.9x argon2", met));
        }
    }
    if options.wants("login-half")
        && let Some(argon2) = limits.argon2_per_second
    {
        let rate = argon2 / 2.0;
        say(&format!("login at {rate:.0}/s, open-loop"));
        let steps: Vec<Step> = accounts.iter().cycle().take(LOGIN_CONNECTIONS).map(login).collect();
        let period = Duration::from_secs_f64(LOGIN_CONNECTIONS as f64 / rate);
        let connections = open_many(address, steps.len()).await?;
        let window = Window::after(warmup, duration);
        let (outcomes, _, _, served_seconds) = open_loop(connections, steps, window, period).await;
        for (_, outcome) in outcomes {
            let figure = Figure::new(
                "login-half",
                "POST /v1/auth/login",
                LOGIN_CONNECTIONS,
                format!("open {rate:.0}/s"),
                served_seconds,
                outcome,
                watch.take_mib(),
            );
            let met = figure.p99_ms < 100.0 && figure.errors == 0;
            figures.push(figure.goal("p99 < 100 ms at half the argon2 rate", Some(met)));
        }
    }
    for (scenario, path, operation) in
        [("me", "/v1/users/me", "GET /v1/users/me"), ("verify", "/v1/auth/verify", "GET /v1/auth/verify")]
    {
        if !options.wants(scenario) {
            continue;
        }
        say(&format!("{operation}, closed-loop"));
        let steps = accounts.iter().cycle().take(CONNECTIONS).map(|account| fixed(scenario, path, account)).collect();
        for figure in closed(address, steps, Window::after(warmup, duration), Some(&watch)).await? {
            let figure = named(figure, scenario, operation).against("reference", reference_rate);
            let met = figure.ratio.map(|ratio| ratio >= me_threshold && figure.errors == 0);
            figures.push(figure.goal(me_goal, met));
        }
    }
    if options.wants("refresh") {
        say("POST /v1/auth/refresh, closed-loop, one session per connection");
        let steps: Vec<Step> = accounts.iter().take(CONNECTIONS).map(refresh).collect();
        let connections = open_many(address, steps.len()).await?;
        let window = Window::after(warmup, duration);
        let (outcomes, steps, _) = closed_loop(connections, steps, window).await;
        keep_refresh_tokens(&mut accounts, &steps);
        for (_, outcome) in outcomes {
            let figure = Figure::new(
                "refresh",
                "POST /v1/auth/refresh",
                steps.len(),
                "closed".to_owned(),
                window.seconds(),
                outcome,
                watch.take_mib(),
            )
            .against("rotation raw", limits.rotations_per_second);
            let met = figure.ratio.map(|ratio| ratio >= 0.5 && figure.p99_ms < 20.0 && figure.errors == 0);
            figures.push(figure.goal(">= 0.5x rotation, p99 < 20 ms", met));
        }
    }
    if options.wants("mix") {
        say("the mix: 57 connections read /v1/users/me, 6 refresh, 1 logs in, closed-loop");
        let mut steps = Vec::with_capacity(CONNECTIONS);
        steps.push(login(&accounts[0]));
        steps.extend(accounts.iter().take(6).map(refresh));
        steps.extend(
            accounts.iter().cycle().skip(6).take(CONNECTIONS - 7).map(|account| fixed("me", "/v1/users/me", account)),
        );
        let connections = open_many(address, steps.len()).await?;
        let window = Window::after(warmup, duration);
        let (outcomes, steps, _) = closed_loop(connections, steps, window).await;
        keep_refresh_tokens(&mut accounts, &steps[1..]);
        let memory = watch.take_mib();
        let mut all = Outcome::default();
        for (operation, outcome) in outcomes {
            all.merge(outcome.clone());
            figures.push(Figure::new(
                "mix",
                operation,
                CONNECTIONS,
                "closed".to_owned(),
                window.seconds(),
                outcome,
                memory,
            ));
        }
        figures.push(
            Figure::new("mix", "all", CONNECTIONS, "closed".to_owned(), window.seconds(), all, memory)
                .against("reference", reference_rate),
        );
    }

    let mut distinct_tokens = 0;
    if options.wants("c10k-open") || options.wants("c10k-closed") {
        let cap = if quick { Duration::from_secs(4) } else { Duration::from_secs(20) };
        say(&format!("minting up to {TEN_THOUSAND} distinct access tokens by refreshing (at most {cap:?})"));
        let tokens = mint_tokens(address, &mut accounts, TEN_THOUSAND, cap).await?;
        distinct_tokens = tokens.len();
        say(&format!("opening {TEN_THOUSAND} keep-alive connections ({distinct_tokens} distinct tokens)"));
        let mut connections = open_many(address, TEN_THOUSAND).await.with_context(|| service.log_tail())?;
        let steps = |operation: &'static str| -> Vec<Step> {
            tokens
                .iter()
                .cycle()
                .take(TEN_THOUSAND)
                .map(|token| Step::Fixed { operation, call: Call::get("/v1/users/me", token) })
                .collect()
        };
        if options.wants("c10k-open") {
            say("10,000 connections, one GET /v1/users/me per connection per second, open-loop");
            let window = Window::after(Duration::from_secs(1), options.open_loop_duration());
            let (outcomes, _, returned, served_seconds) =
                open_loop(connections, steps("c10k-open"), window, Duration::from_secs(1)).await;
            connections = returned;
            for (_, outcome) in outcomes {
                let figure = Figure::new(
                    "c10k-open",
                    "GET /v1/users/me",
                    TEN_THOUSAND,
                    "open 10000/s".to_owned(),
                    served_seconds,
                    outcome,
                    watch.take_mib(),
                );
                let met = figure.errors == 0 && figure.p99_ms < 100.0;
                figures.push(figure.goal("0 errors, p99 < 100 ms", Some(met)));
            }
        }
        if options.wants("c10k-closed") {
            say("10,000 connections, closed-loop (saturation)");
            let window = Window::after(warmup, duration);
            let (outcomes, _, _) = closed_loop(connections, steps("c10k-closed"), window).await;
            for (_, outcome) in outcomes {
                figures.push(
                    Figure::new(
                        "c10k-closed",
                        "GET /v1/users/me",
                        TEN_THOUSAND,
                        "closed".to_owned(),
                        window.seconds(),
                        outcome,
                        watch.take_mib(),
                    )
                    .against("reference", reference_rate),
                );
            }
            if let Some(reference) = &reference {
                say("the reference server at 10,000 connections, closed-loop");
                let connections = open_many(reference.address, TEN_THOUSAND).await?;
                let steps = tokens
                    .iter()
                    .cycle()
                    .take(TEN_THOUSAND)
                    .map(|token| Step::Fixed { operation: "verify", call: Call::get("/", token) })
                    .collect();
                let (outcomes, _, _) = closed_loop(connections, steps, Window::after(warmup, duration)).await;
                limits.reference_10k = outcomes.into_iter().next().map(|(_, outcome)| {
                    Figure::new(
                        "reference",
                        "GET (verify only)",
                        TEN_THOUSAND,
                        "closed".to_owned(),
                        duration.as_secs_f64(),
                        outcome,
                        service::memory(reference.pid()).peak_mib,
                    )
                });
            }
        }
    }
    drop(reference);

    let server_memory_end = service::memory(service.pid());
    let server_log_bytes = service.log_bytes();
    Ok(Report {
        mode: options.mode.name().to_owned(),
        quick,
        cpus,
        seeded_accounts: accounts.len(),
        distinct_tokens_10k: distinct_tokens,
        limits,
        figures,
        server_memory_end,
        server_log_bytes,
        wall_seconds: began.elapsed().as_secs_f64(),
    })
}

fn fixed(operation: &'static str, path: &'static str, account: &Account) -> Step {
    Step::Fixed { operation, call: Call::get(path, &account.tokens.access_token) }
}

fn login(account: &Account) -> Step {
    Step::Fixed {
        operation: "login",
        call: Call::post("/v1/auth/login", &json!({ "email": account.email, "password": PASSWORD })),
    }
}

fn refresh(account: &Account) -> Step {
    Step::Refresh { refresh_token: account.tokens.refresh_token.clone(), minted: None }
}

/// Carries the refresh tokens the refresh steps moved on back to their accounts (steps and
/// accounts in the same order).
pub(crate) fn keep_refresh_tokens(accounts: &mut [Account], steps: &[Step]) {
    for (account, step) in accounts.iter_mut().zip(steps) {
        if let Step::Refresh { refresh_token, .. } = step {
            account.tokens.refresh_token.clone_from(refresh_token);
        }
    }
}

fn named(figure: Figure, scenario: &str, operation: &str) -> Figure {
    Figure { scenario: scenario.to_owned(), operation: operation.to_owned(), ..figure }
}

/// Runs `steps` closed-loop against `address`, one connection each: one figure per operation.
async fn closed(
    address: std::net::SocketAddr,
    steps: Vec<Step>,
    window: Window,
    watch: Option<&MemoryWatch>,
) -> anyhow::Result<Vec<Figure>> {
    let connections = open_many(address, steps.len()).await?;
    let count = steps.len();
    if let Some(watch) = watch {
        watch.take_mib();
    }
    let (outcomes, _, _) = closed_loop(connections, steps, window).await;
    let memory = watch.map_or(f64::NAN, MemoryWatch::take_mib);
    Ok(outcomes
        .into_iter()
        .map(|(operation, outcome)| {
            Figure::new(operation, operation, count, "closed".to_owned(), window.seconds(), outcome, memory)
        })
        .collect())
}

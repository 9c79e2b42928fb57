//! The adapter contract suite: each port's contract written once, run against every backend we have.
//!
//! Each port module holds that port's contract as plain `pub async fn`s over `&dyn Port`, and ends
//! with one [`contract_tests!`] invocation that runs every one of them against each backend it
//! lists. [`backends`] builds the fresh fixture a test runs on. Adding a backend (PostgreSQL,
//! Redis) means writing its fixture function in `backends.rs` and adding one line to the
//! `backends` list of each port it implements: no contract is written twice, and a contract added
//! later runs on every backend at once.
//!
//! Test names read `<port>::<backend>::<contract>`, so `cargo test --test contract sqlite` runs one
//! backend and `cargo test --test contract sessions::` one port.
//!
//! The backends that are servers (Redis) run when their variable names one (`AUTH_TEST_REDIS_URL`);
//! without it their tests print a `SKIPPED:` line and pass, except in CI (`CI` set), where a
//! missing server fails them: CI must run every backend.

/// Runs every listed contract function against every listed backend, one `#[tokio::test]` each.
///
/// ```ignore
/// contract_tests! {
///     backends: { sqlite => crate::backends::sqlite },
///     ports: |fixture| (&fixture.sessions, &fixture.users),
///     tests: [a_created_session_is_found_by_id_and_by_its_refresh_token, ...],
/// }
/// ```
///
/// For each backend it generates a module of that name holding one test per contract; the test
/// awaits the backend's fixture function, then calls the contract of the same name in the
/// enclosing module with the arguments `ports` takes from the fixture. Attributes written before
/// a backend (such as `#[cfg(feature = "postgres")]`) apply to its whole module. The runtime has
/// several worker threads so that the concurrency contracts race for real.
///
/// A fixture function returns its fixture bare, or an `Option` of it when its backend is a server
/// that may not be configured on this machine (see [`backends::FixtureOrSkip`]); on `None` the
/// test returns at once, after [`backends::skip_or_panic`] has said why (or failed it, in CI).
macro_rules! contract_tests {
    (
        backends: { $( $(#[$backend_attribute:meta])* $backend:ident => $fixture_function:path ),+ $(,)? },
        ports: |$fixture:ident| $ports:tt,
        tests: $tests:tt $(,)?
    ) => {
        $(
            $(#[$backend_attribute])*
            mod $backend {
                contract_tests!(@tests $fixture_function, $fixture, $ports, $tests);
            }
        )+
    };
    (@tests $fixture_function:path, $fixture:ident, $ports:tt, [ $( $test:ident ),+ $(,)? ]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                let Some($fixture) = crate::backends::FixtureOrSkip::into_fixture($fixture_function().await) else {
                    return;
                };
                super::$test $ports .await;
            }
        )+
    };
}

mod backends;
mod support;

mod audit_log;
mod mail_queue;
mod one_time_tokens;
mod rate_limiter;
mod redis_store;
mod revocation_store;
mod second_factor;
mod sessions;
mod signing_keys;
mod users;

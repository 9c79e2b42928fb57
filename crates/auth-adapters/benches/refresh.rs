//! Refresh-token rotation on SQLite and PostgreSQL: the repository's rotation transaction alone
//! (`SessionRepository::rotate`), and the whole use case (`SessionService::refresh`: look the token
//! up, load the account, rotate, audit, sign the new access token).
//!
//! `cargo bench -p auth-adapters --bench refresh`; PostgreSQL needs AUTH_TEST_DATABASE_URL (a
//! fresh schema is made on it for each run).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_domain::ports::{Rotation, RotationOutcome};
use auth_domain::{RefreshToken, RequestContext, TokenHash};
use criterion::{Criterion, criterion_group, criterion_main};
use time::OffsetDateTime;

fn random_hash() -> TokenHash {
    RefreshToken::from_random_bytes(rand::random()).hash()
}

fn rotation(c: &mut Criterion) {
    let runtime = support::runtime();
    let folder = tempfile::tempdir().expect("a temporary folder");
    let postgres_url = support::server_url(
        "refresh/postgres benchmarks",
        "AUTH_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let mut group = c.benchmark_group("refresh");
    for backend in ["sqlite", "postgres"] {
        let repositories = match (backend, &postgres_url) {
            ("sqlite", _) => runtime.block_on(support::sqlite(folder.path())),
            ("postgres", Some(url)) => runtime.block_on(support::postgres(url)),
            _ => continue,
        };
        let sessions = repositories.sessions.clone();
        let service =
            support::service(repositories, support::stores(None), support::cheap_hasher(), Arc::new(support::codec()));

        // The rotation transaction alone, chained: each rotation's successor is the next parent.
        let pair = runtime.block_on(support::signed_in(&service));
        let (session, record) = runtime
            .block_on(sessions.find_by_refresh_token(&pair.refresh_token.hash()))
            .expect("the lookup succeeds")
            .expect("the session exists");
        let mut parent = record.hash;
        group.bench_function(format!("rotate/{backend}"), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iterations {
                        let successor = random_hash();
                        let now = OffsetDateTime::now_utc();
                        let rotation = Rotation {
                            session_id: session.id,
                            parent: parent.clone(),
                            successor: successor.clone(),
                            now,
                            idle_expires_at: now + time::Duration::days(7),
                        };
                        let outcome = sessions.rotate(&rotation).await.expect("rotates");
                        assert_eq!(outcome, RotationOutcome::Rotated);
                        parent = successor;
                    }
                    started.elapsed()
                })
            });
        });

        // The whole use case, chained the same way.
        let context =
            RequestContext { ip: Some(std::net::IpAddr::from([127, 0, 0, 1])), user_agent: Some("bench".to_owned()) };
        let mut current = runtime.block_on(support::signed_in(&service)).refresh_token;
        group.bench_function(format!("use-case/{backend}"), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iterations {
                        let started = Instant::now();
                        let pair = service.sessions.refresh(current.expose(), &context).await.expect("refreshes");
                        elapsed += started.elapsed();
                        current = pair.refresh_token;
                    }
                    elapsed
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, rotation);
criterion_main!(benches);

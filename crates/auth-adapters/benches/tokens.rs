//! Access tokens: signing and verifying with every algorithm the JWT adapter supports (a first
//! verification, and the same token again, answered from the verified-token cache), and the whole
//! authenticate-request path (verify, then the revocation check, which no cache skips) with the
//! in-process store and with Redis.
//!
//! `cargo bench -p auth-adapters --bench tokens`; the Redis case needs AUTH_TEST_REDIS_URL.

mod support;

use std::hint::black_box;
use std::sync::Arc;

use auth_adapters::keys::SigningAlgorithm;
use auth_domain::ports::AccessTokenCodec;
use auth_domain::{AccessClaims, SessionId, UserId};
use criterion::{Criterion, criterion_group, criterion_main};
use time::OffsetDateTime;

fn claims() -> AccessClaims {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    AccessClaims {
        iss: support::ISSUER.into(),
        sub: UserId::from_uuid(uuid::Uuid::now_v7()),
        aud: support::AUDIENCE.into(),
        exp: now + 900,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::now_v7().to_string(),
        sid: SessionId::from_uuid(uuid::Uuid::now_v7()),
        roles: vec!["admin".into()],
        amr: vec!["pwd".into()],
        email_verified: true,
    }
}

/// Sign and verify, for each algorithm the adapter supports.
fn sign_and_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("jwt");
    for algorithm in SigningAlgorithm::ALL {
        let name = algorithm.jose_name();
        let codec = support::codec_for(algorithm);
        let claims = claims();
        group.bench_function(format!("sign/{name}"), |b| {
            b.iter(|| codec.sign(black_box(&claims)).expect("signs"));
        });
        let token = codec.sign(&claims).expect("signs").expose().to_owned();
        // The signature checked every time, as for a token never seen before.
        group.bench_function(format!("verify/{name}"), |b| {
            b.iter(|| codec.verify_uncached(black_box(&token)).expect("verifies"));
        });
        // The same token again: found among the tokens verified before (the codec's cache).
        group.bench_function(format!("verify-again/{name}"), |b| {
            b.iter(|| codec.verify(black_box(&token)).expect("verifies"));
        });
    }
    group.finish();
}

/// `Authenticator::authenticate`: what every authenticated request costs before its handler runs.
fn authenticate(c: &mut Criterion) {
    let runtime = support::runtime();
    let folder = tempfile::tempdir().expect("a temporary folder");
    let redis_url =
        support::server_url("authenticate/redis benchmark", "AUTH_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let mut group = c.benchmark_group("authenticate");
    for (store, url) in [("in-process", None), ("redis", redis_url.as_deref())] {
        if store == "redis" && url.is_none() {
            continue;
        }
        let service = runtime.block_on(async {
            let repositories = support::sqlite(folder.path()).await;
            support::service(repositories, support::stores(url), support::cheap_hasher(), Arc::new(support::codec()))
        });
        let pair = runtime.block_on(support::signed_in(&service));
        let token = pair.access_token.expose().to_owned();
        group.bench_function(store, |b| {
            b.to_async(&runtime)
                .iter(|| async { service.authenticator.authenticate(black_box(&token)).await.expect("authenticates") });
        });
    }
    group.finish();
}

criterion_group!(benches, sign_and_verify, authenticate);
criterion_main!(benches);

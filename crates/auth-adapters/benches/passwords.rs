//! Argon2id hashing and verifying at the service's default parameters (m = 19 MiB, t = 2, p = 1),
//! through the `PasswordHasher` port (its hashing threads and admission bound included) and with the
//! `argon2` crate alone, to show what the port adds.
//!
//! `cargo bench -p auth-adapters --bench passwords`

mod support;

use std::hint::black_box;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use auth_adapters::argon2_hasher::{Argon2Hasher, Argon2Parameters};
use auth_domain::Password;
use auth_domain::ports::PasswordHasher;
use criterion::{Criterion, criterion_group, criterion_main};

fn argon2id(c: &mut Criterion) {
    let runtime = support::runtime();
    let parameters = Argon2Parameters::default();
    let hasher = Argon2Hasher::new(parameters, None, 2, 64).expect("the default parameters are valid");
    let password = Password::new(support::PASSWORD);
    let stored = runtime.block_on(hasher.hash(&password)).expect("hashes");

    let mut group = c.benchmark_group("argon2id-default");
    // About 15 ms an operation: ten samples are plenty, and keep the run short.
    group.sample_size(10);
    group.bench_function("hash (port)", |b| {
        b.to_async(&runtime).iter(|| async { hasher.hash(black_box(&password)).await.expect("hashes") });
    });
    group.bench_function("verify (port)", |b| {
        b.to_async(&runtime).iter(|| async { hasher.verify(black_box(&password), &stored).await.expect("verifies") });
    });

    let params = Params::new(parameters.memory_kib, parameters.iterations, parameters.parallelism, None)
        .expect("the default parameters are valid");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let phc = argon2
        .hash_password(support::PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("hashes")
        .to_string();
    group.bench_function("verify (argon2 crate alone)", |b| {
        b.iter(|| {
            let parsed = PhcHash::new(&phc).expect("a PHC string");
            argon2.verify_password(black_box(support::PASSWORD.as_bytes()), &parsed).expect("verifies");
        });
    });
    group.finish();
}

criterion_group!(benches, argon2id);
criterion_main!(benches);

//! [`SigningKeyStore`] on PostgreSQL.

use async_trait::async_trait;
use auth_domain::InfrastructureError;
use auth_domain::ports::{SigningKeyStore, StoredSigningKey};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use time::OffsetDateTime;

use super::PostgresDatabase;
use super::schema::signing_keys;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys, check_for_backend(diesel::pg::Pg))]
struct SigningKeyRow {
    kid: String,
    algorithm: String,
    public_key: Vec<u8>,
    encrypted_private_key: Vec<u8>,
    created_at: OffsetDateTime,
    activates_at: OffsetDateTime,
    retired_at: Option<OffsetDateTime>,
}

impl From<SigningKeyRow> for StoredSigningKey {
    fn from(row: SigningKeyRow) -> Self {
        Self {
            kid: row.kid,
            algorithm: row.algorithm,
            public_key: row.public_key,
            encrypted_private_key: row.encrypted_private_key,
            created_at: row.created_at,
            activates_at: row.activates_at,
            retired_at: row.retired_at,
        }
    }
}

/// The advisory lock that makes "insert the first key" atomic across replicas.
const SIGNING_KEY_LOCK: i64 = 0x7369_676e_6b65_7973; // "signkeys"

/// Signing keys stored in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresSigningKeyStore {
    database: PostgresDatabase,
}

impl PostgresSigningKeyStore {
    pub fn new(database: PostgresDatabase) -> Self {
        Self { database }
    }

    /// The keys in activation order, the retired ones too when `with_retired`.
    async fn list(&self, with_retired: bool) -> Result<Vec<StoredSigningKey>, InfrastructureError> {
        let rows: Vec<SigningKeyRow> = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    let mut query = signing_keys::table.into_boxed();
                    if !with_retired {
                        query = query.filter(signing_keys::retired_at.is_null());
                    }
                    query
                        .order((signing_keys::activates_at.asc(), signing_keys::kid.asc()))
                        .select(SigningKeyRow::as_select())
                        .load(connection)
                        .await
                })
            })
            .await?;
        Ok(rows.into_iter().map(StoredSigningKey::from).collect())
    }
}

#[async_trait]
impl SigningKeyStore for PostgresSigningKeyStore {
    async fn list_active(&self) -> Result<Vec<StoredSigningKey>, InfrastructureError> {
        self.list(false).await
    }

    async fn list_all(&self) -> Result<Vec<StoredSigningKey>, InfrastructureError> {
        self.list(true).await
    }

    async fn insert(&self, key: StoredSigningKey) -> Result<(), InfrastructureError> {
        let row = SigningKeyRow::from(key);
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::insert_into(signing_keys::table).values(&row).execute(connection).await.map(|_| ())
                })
            })
            .await
    }

    async fn insert_unless_newer(
        &self,
        key: StoredSigningKey,
        created_since: Option<OffsetDateTime>,
    ) -> Result<bool, InfrastructureError> {
        let row = SigningKeyRow::from(key);
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    connection
                        .transaction(async |connection| {
                            // Replicas deciding together queue on this lock; the later ones see the
                            // first one's key.
                            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                                .bind::<diesel::sql_types::BigInt, _>(SIGNING_KEY_LOCK)
                                .execute(connection)
                                .await?;
                            let mut newer = signing_keys::table.filter(signing_keys::retired_at.is_null()).into_boxed();
                            if let Some(created_since) = created_since {
                                newer = newer.filter(signing_keys::created_at.ge(created_since));
                            }
                            let newer: i64 = newer.count().get_result(connection).await?;
                            if newer > 0 {
                                return Ok(false);
                            }
                            diesel::insert_into(signing_keys::table).values(&row).execute(connection).await?;
                            Ok::<_, diesel::result::Error>(true)
                        })
                        .await
                })
            })
            .await
    }

    async fn retire(&self, kid: &str, at: OffsetDateTime) -> Result<bool, InfrastructureError> {
        let kid = kid.to_owned();
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::update(
                        signing_keys::table
                            .filter(signing_keys::kid.eq(&kid))
                            .filter(signing_keys::retired_at.is_null()),
                    )
                    .set(signing_keys::retired_at.eq(Some(at)))
                    .execute(connection)
                    .await
                    .map(|updated| updated == 1)
                })
            })
            .await
    }
}

impl From<StoredSigningKey> for SigningKeyRow {
    fn from(key: StoredSigningKey) -> Self {
        Self {
            kid: key.kid,
            algorithm: key.algorithm,
            public_key: key.public_key,
            encrypted_private_key: key.encrypted_private_key,
            created_at: key.created_at,
            activates_at: key.activates_at,
            retired_at: key.retired_at,
        }
    }
}

//! [`SigningKeyStore`] on SQLite.

use async_trait::async_trait;
use auth_domain::InfrastructureError;
use auth_domain::ports::{SigningKeyStore, StoredSigningKey};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use time::OffsetDateTime;

use super::schema::signing_keys;
use super::{SqliteDatabase, decode_instant, encode_instant};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys, check_for_backend(diesel::sqlite::Sqlite))]
struct SigningKeyRow {
    kid: String,
    algorithm: String,
    public_key: Vec<u8>,
    encrypted_private_key: Vec<u8>,
    created_at: String,
    activates_at: String,
    retired_at: Option<String>,
}

impl SigningKeyRow {
    fn into_key(self) -> Result<StoredSigningKey, DieselError> {
        Ok(StoredSigningKey {
            kid: self.kid,
            algorithm: self.algorithm,
            public_key: self.public_key,
            encrypted_private_key: self.encrypted_private_key,
            created_at: decode_instant(&self.created_at)?,
            activates_at: decode_instant(&self.activates_at)?,
            retired_at: self.retired_at.as_deref().map(decode_instant).transpose()?,
        })
    }
}

/// Signing keys stored in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteSigningKeyStore {
    database: SqliteDatabase,
}

impl SqliteSigningKeyStore {
    pub fn new(database: SqliteDatabase) -> Self {
        Self { database }
    }

    /// The keys in activation order, the retired ones too when `with_retired`.
    async fn list(&self, with_retired: bool) -> Result<Vec<StoredSigningKey>, InfrastructureError> {
        self.database
            .read(move |connection| {
                let mut query = signing_keys::table.into_boxed();
                if !with_retired {
                    query = query.filter(signing_keys::retired_at.is_null());
                }
                query
                    .order((signing_keys::activates_at.asc(), signing_keys::kid.asc()))
                    .select(SigningKeyRow::as_select())
                    .load(connection)?
                    .into_iter()
                    .map(SigningKeyRow::into_key)
                    .collect()
            })
            .await
    }
}

#[async_trait]
impl SigningKeyStore for SqliteSigningKeyStore {
    async fn list_active(&self) -> Result<Vec<StoredSigningKey>, InfrastructureError> {
        self.list(false).await
    }

    async fn list_all(&self) -> Result<Vec<StoredSigningKey>, InfrastructureError> {
        self.list(true).await
    }

    async fn insert(&self, key: StoredSigningKey) -> Result<(), InfrastructureError> {
        let row = SigningKeyRow::from(key);
        self.database
            .write(move |connection| {
                diesel::insert_into(signing_keys::table).values(&row).execute(connection)?;
                Ok(())
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
            .write(move |connection| {
                // The IMMEDIATE transaction holds the write lock from the check to the insert.
                let mut newer = signing_keys::table.filter(signing_keys::retired_at.is_null()).into_boxed();
                if let Some(created_since) = created_since {
                    newer = newer.filter(signing_keys::created_at.ge(encode_instant(created_since)));
                }
                let newer: i64 = newer.count().get_result(connection)?;
                if newer > 0 {
                    return Ok(false);
                }
                diesel::insert_into(signing_keys::table).values(&row).execute(connection)?;
                Ok(true)
            })
            .await
    }

    async fn retire(&self, kid: &str, at: OffsetDateTime) -> Result<bool, InfrastructureError> {
        let kid = kid.to_owned();
        self.database
            .write(move |connection| {
                let updated = diesel::update(
                    signing_keys::table.filter(signing_keys::kid.eq(&kid)).filter(signing_keys::retired_at.is_null()),
                )
                .set(signing_keys::retired_at.eq(Some(encode_instant(at))))
                .execute(connection)?;
                Ok(updated == 1)
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
            created_at: encode_instant(key.created_at),
            activates_at: encode_instant(key.activates_at),
            retired_at: key.retired_at.map(encode_instant),
        }
    }
}

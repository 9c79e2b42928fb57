//! [`UserRepository`] on PostgreSQL.

use async_trait::async_trait;
use auth_domain::ports::{MailedToken, PasswordUpdate, UserQuery, UserRepository, UserRepositoryError};
use auth_domain::user::{DisplayName, Role, User};
use auth_domain::{Email, InfrastructureError, PasswordHash, UserId};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use time::OffsetDateTime;
use uuid::Uuid;

use super::schema::{audit_events, sessions, users};
use super::{PostgresDatabase, corrupt, database_error, mail_queue, one_time_tokens};
use crate::sealed_mail::MailSealer;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
struct UserRow {
    id: Uuid,
    email: String,
    email_verified: bool,
    display_name: Option<String>,
    roles: Vec<String>,
    mfa_enabled: bool,
    disabled: bool,
    password_hash: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    credentials_version: i64,
}

impl UserRow {
    fn from_user(user: &User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            email_verified: user.email_verified,
            display_name: user.display_name.as_ref().map(|name| name.as_str().to_owned()),
            roles: user.role_names(),
            mfa_enabled: user.mfa_enabled,
            disabled: user.disabled,
            password_hash: user.password_hash.as_str().to_owned(),
            created_at: user.created_at,
            updated_at: user.updated_at,
            credentials_version: user.credentials_version,
        }
    }

    fn into_user(self) -> Result<User, DieselError> {
        let (email, display_name, roles) =
            crate::stored::user_fields(&self.email, self.display_name.as_deref(), &self.roles).map_err(corrupt)?;
        Ok(User {
            id: UserId::from_uuid(self.id),
            email,
            email_verified: self.email_verified,
            display_name,
            roles,
            mfa_enabled: self.mfa_enabled,
            disabled: self.disabled,
            password_hash: PasswordHash::new(self.password_hash),
            credentials_version: self.credentials_version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Users stored in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresUserRepository {
    database: PostgresDatabase,
    sealer: MailSealer,
}

impl PostgresUserRepository {
    pub fn new(database: PostgresDatabase, sealer: MailSealer) -> Self {
        Self { database, sealer }
    }

    /// Runs an UPDATE of one user and reports `NotFound` when it touched no row.
    async fn update_one<F>(&self, update: F) -> Result<(), UserRepositoryError>
    where
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, Result<usize, DieselError>> + Send + 'static,
    {
        let updated = self.database.run(update).await?;
        if updated == 0 { Err(UserRepositoryError::NotFound) } else { Ok(()) }
    }
}

#[async_trait]
impl UserRepository for PostgresUserRepository {
    async fn insert(&self, user: &User, verification: &MailedToken) -> Result<(), UserRepositoryError> {
        let row = UserRow::from_user(user);
        let verification = verification.clone();
        let sealer = self.sealer.clone();
        let inserted = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    let outcome = connection
                        .transaction(async |connection| {
                            diesel::insert_into(users::table).values(&row).execute(connection).await?;
                            one_time_tokens::insert_token(connection, &verification.record).await?;
                            mail_queue::insert_job(connection, &sealer, &verification.mail).await
                        })
                        .await;
                    match outcome {
                        Ok(()) => Ok(true),
                        // Only the email's uniqueness is the caller's business; a clash of a
                        // token hash or a mail id is an error, not a taken address.
                        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info))
                            if info.constraint_name() == Some("users_email_key") =>
                        {
                            Ok(false)
                        }
                        Err(other) => Err(other),
                    }
                })
            })
            .await?;
        if inserted { Ok(()) } else { Err(UserRepositoryError::EmailTaken) }
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, InfrastructureError> {
        let rows = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    users::table.find(id.as_uuid()).select(UserRow::as_select()).first(connection).await.optional()
                })
            })
            .await?;
        rows.map(UserRow::into_user).transpose().map_err(database_error)
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, InfrastructureError> {
        let email = email.as_str().to_owned();
        let rows = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    users::table
                        .filter(users::email.eq(email))
                        .select(UserRow::as_select())
                        .first(connection)
                        .await
                        .optional()
                })
            })
            .await?;
        rows.map(UserRow::into_user).transpose().map_err(database_error)
    }

    async fn mark_email_verified(&self, id: UserId, at: OffsetDateTime) -> Result<(), UserRepositoryError> {
        self.update_one(move |connection| {
            Box::pin(async move {
                diesel::update(users::table.find(id.as_uuid()))
                    .set((users::email_verified.eq(true), users::updated_at.eq(at)))
                    .execute(connection)
                    .await
            })
        })
        .await
    }

    async fn update_display_name(
        &self,
        id: UserId,
        display_name: Option<DisplayName>,
        at: OffsetDateTime,
    ) -> Result<(), UserRepositoryError> {
        let display_name = display_name.map(|name| name.as_str().to_owned());
        self.update_one(move |connection| {
            Box::pin(async move {
                diesel::update(users::table.find(id.as_uuid()))
                    .set((users::display_name.eq(display_name), users::updated_at.eq(at)))
                    .execute(connection)
                    .await
            })
        })
        .await
    }

    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
        update: PasswordUpdate,
    ) -> Result<(), UserRepositoryError> {
        let hash = hash.as_str().to_owned();
        let sealer = self.sealer.clone();
        self.update_one(move |connection| {
            Box::pin(async move {
                connection
                    .transaction(async |connection| match update {
                        PasswordUpdate::Rehash { previous } => {
                            let updated = diesel::update(
                                users::table.find(id.as_uuid()).filter(users::password_hash.eq(previous.as_str())),
                            )
                            .set((users::password_hash.eq(hash), users::updated_at.eq(at)))
                            .execute(connection)
                            .await?;
                            if updated == 1 {
                                return Ok(1);
                            }
                            // A new password was stored meanwhile: it stays.
                            let found: i64 = users::table.find(id.as_uuid()).count().get_result(connection).await?;
                            Ok(usize::from(found > 0))
                        }
                        PasswordUpdate::NewPassword { notice, keep } => {
                            let version: Option<i64> = diesel::update(users::table.find(id.as_uuid()))
                                .set((
                                    users::password_hash.eq(hash),
                                    users::updated_at.eq(at),
                                    users::credentials_version.eq(users::credentials_version + 1),
                                ))
                                .returning(users::credentials_version)
                                .get_result(connection)
                                .await
                                .optional()?;
                            let Some(version) = version else { return Ok(0) };
                            if let Some(keep) = keep {
                                diesel::update(
                                    sessions::table.find(keep.as_uuid()).filter(sessions::user_id.eq(id.as_uuid())),
                                )
                                .set(sessions::credentials_version.eq(version))
                                .execute(connection)
                                .await?;
                            }
                            mail_queue::insert_job(connection, &sealer, &notice).await?;
                            Ok::<_, DieselError>(1)
                        }
                    })
                    .await
            })
        })
        .await
    }

    async fn delete(&self, id: UserId) -> Result<(), UserRepositoryError> {
        // ON DELETE CASCADE takes the sessions, refresh tokens and one-time tokens with the user.
        // The audit rows lose their personal fields; the digests the chain covers stay.
        self.update_one(move |connection| {
            Box::pin(async move {
                connection
                    .transaction(async |connection| {
                        let deleted = diesel::delete(users::table.find(id.as_uuid())).execute(connection).await?;
                        if deleted == 1 {
                            diesel::update(audit_events::table.filter(audit_events::user_id.eq(id.as_uuid())))
                                .set((audit_events::ip.eq(None::<String>), audit_events::user_agent.eq(None::<String>)))
                                .execute(connection)
                                .await?;
                        }
                        Ok(deleted)
                    })
                    .await
            })
        })
        .await
    }

    async fn set_roles(&self, id: UserId, roles: &[Role], at: OffsetDateTime) -> Result<(), UserRepositoryError> {
        let roles: Vec<String> = roles.iter().map(|role| role.as_str().to_owned()).collect();
        self.update_one(move |connection| {
            Box::pin(async move {
                diesel::update(users::table.find(id.as_uuid()))
                    .set((
                        users::roles.eq(roles),
                        users::updated_at.eq(at),
                        users::credentials_version.eq(users::credentials_version + 1),
                    ))
                    .execute(connection)
                    .await
            })
        })
        .await
    }

    async fn set_disabled(&self, id: UserId, disabled: bool, at: OffsetDateTime) -> Result<(), UserRepositoryError> {
        self.update_one(move |connection| {
            Box::pin(async move {
                diesel::update(users::table.find(id.as_uuid()))
                    .set((
                        users::disabled.eq(disabled),
                        users::updated_at.eq(at),
                        users::credentials_version.eq(users::credentials_version + 1),
                    ))
                    .execute(connection)
                    .await
            })
        })
        .await
    }

    async fn list(&self, query: &UserQuery) -> Result<Vec<User>, InfrastructureError> {
        let query = query.clone();
        let rows: Vec<UserRow> = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    let mut statement = users::table
                        .select(UserRow::as_select())
                        .order(users::id.asc())
                        .limit(i64::from(query.limit))
                        .into_boxed();
                    if let Some(after) = query.after {
                        statement = statement.filter(users::id.gt(after.as_uuid()));
                    }
                    if let Some(text) = &query.email_contains {
                        statement =
                            statement.filter(users::email.like(crate::stored::contains_pattern(text)).escape('\\'));
                    }
                    statement.load(connection).await
                })
            })
            .await?;
        rows.into_iter().map(UserRow::into_user).collect::<Result<_, _>>().map_err(InfrastructureError::unexpected)
    }
}

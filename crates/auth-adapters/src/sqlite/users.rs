//! [`UserRepository`] on SQLite.

use async_trait::async_trait;
use auth_domain::ports::{MailedToken, PasswordUpdate, UserQuery, UserRepository, UserRepositoryError};
use auth_domain::user::{DisplayName, Role, User};
use auth_domain::{Email, InfrastructureError, PasswordHash, UserId};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use time::OffsetDateTime;

use super::schema::{audit_events, sessions, users};
use super::{
    SqliteDatabase, corrupt, database_error, decode_instant, decode_uuid, encode_instant, mail_queue, one_time_tokens,
};
use crate::sealed_mail::MailSealer;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users, check_for_backend(diesel::sqlite::Sqlite))]
struct UserRow {
    id: String,
    email: String,
    email_verified: bool,
    display_name: Option<String>,
    roles: String,
    mfa_enabled: bool,
    disabled: bool,
    password_hash: String,
    created_at: String,
    updated_at: String,
    credentials_version: i64,
}

impl UserRow {
    fn from_user(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            email_verified: user.email_verified,
            display_name: user.display_name.as_ref().map(|name| name.as_str().to_owned()),
            roles: encode_roles(&user.roles),
            mfa_enabled: user.mfa_enabled,
            disabled: user.disabled,
            password_hash: user.password_hash.as_str().to_owned(),
            created_at: encode_instant(user.created_at),
            updated_at: encode_instant(user.updated_at),
            credentials_version: user.credentials_version,
        }
    }

    fn into_user(self) -> Result<User, DieselError> {
        let roles: Vec<String> =
            serde_json::from_str(&self.roles).map_err(|error| corrupt(format!("bad roles: {error}")))?;
        let (email, display_name, roles) =
            crate::stored::user_fields(&self.email, self.display_name.as_deref(), &roles).map_err(corrupt)?;
        Ok(User {
            id: UserId::from_uuid(decode_uuid(&self.id)?),
            email,
            email_verified: self.email_verified,
            display_name,
            roles,
            mfa_enabled: self.mfa_enabled,
            disabled: self.disabled,
            password_hash: PasswordHash::new(self.password_hash),
            credentials_version: self.credentials_version,
            created_at: decode_instant(&self.created_at)?,
            updated_at: decode_instant(&self.updated_at)?,
        })
    }
}

fn encode_roles(roles: &[Role]) -> String {
    serde_json::to_string(&roles.iter().map(Role::as_str).collect::<Vec<_>>()).expect("strings serialise")
}

/// Users stored in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteUserRepository {
    database: SqliteDatabase,
    sealer: MailSealer,
}

impl SqliteUserRepository {
    pub fn new(database: SqliteDatabase, sealer: MailSealer) -> Self {
        Self { database, sealer }
    }

    /// Runs an UPDATE of one user and reports `NotFound` when it touched no row.
    async fn update_one<F>(&self, id: UserId, update: F) -> Result<(), UserRepositoryError>
    where
        F: FnOnce(&mut SqliteConnection, &str) -> Result<usize, DieselError> + Send + 'static,
    {
        let updated = self.database.write(move |connection| update(connection, &id.to_string())).await?;
        if updated == 0 { Err(UserRepositoryError::NotFound) } else { Ok(()) }
    }
}

#[async_trait]
impl UserRepository for SqliteUserRepository {
    async fn insert(&self, user: &User, verification: &MailedToken) -> Result<(), UserRepositoryError> {
        let row = UserRow::from_user(user);
        let verification = verification.clone();
        let sealer = self.sealer.clone();
        self.database
            .run(move |connection| {
                let outcome = connection.immediate_transaction(|connection| {
                    diesel::insert_into(users::table).values(&row).execute(connection)?;
                    one_time_tokens::insert_token(connection, &verification.record)?;
                    mail_queue::insert_job(connection, &sealer, &verification.mail)
                });
                match outcome {
                    Ok(()) => Ok(Ok(())),
                    // Only the email's uniqueness is the caller's business; a clash of a token
                    // hash or a mail id is an error, not a taken address.
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info))
                        if info.message().contains("users.email") =>
                    {
                        Ok(Err(UserRepositoryError::EmailTaken))
                    }
                    Err(other) => Err(database_error(other)),
                }
            })
            .await?
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, InfrastructureError> {
        self.database
            .read(move |connection| {
                users::table
                    .find(id.to_string())
                    .select(UserRow::as_select())
                    .first(connection)
                    .optional()?
                    .map(UserRow::into_user)
                    .transpose()
            })
            .await
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, InfrastructureError> {
        let email = email.as_str().to_owned();
        self.database
            .read(move |connection| {
                users::table
                    .filter(users::email.eq(email))
                    .select(UserRow::as_select())
                    .first(connection)
                    .optional()?
                    .map(UserRow::into_user)
                    .transpose()
            })
            .await
    }

    async fn mark_email_verified(&self, id: UserId, at: OffsetDateTime) -> Result<(), UserRepositoryError> {
        self.update_one(id, move |connection, id| {
            diesel::update(users::table.find(id))
                .set((users::email_verified.eq(true), users::updated_at.eq(encode_instant(at))))
                .execute(connection)
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
        self.update_one(id, move |connection, id| {
            diesel::update(users::table.find(id))
                .set((users::display_name.eq(display_name), users::updated_at.eq(encode_instant(at))))
                .execute(connection)
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
        self.update_one(id, move |connection, id| match update {
            PasswordUpdate::Rehash { previous } => {
                let updated = diesel::update(users::table.find(id).filter(users::password_hash.eq(previous.as_str())))
                    .set((users::password_hash.eq(hash), users::updated_at.eq(encode_instant(at))))
                    .execute(connection)?;
                if updated == 1 {
                    return Ok(1);
                }
                // A new password was stored meanwhile: it stays.
                users::table.find(id).count().get_result::<i64>(connection).map(|found| usize::from(found > 0))
            }
            PasswordUpdate::NewPassword { notice, keep } => {
                let updated = diesel::update(users::table.find(id))
                    .set((
                        users::password_hash.eq(hash),
                        users::updated_at.eq(encode_instant(at)),
                        users::credentials_version.eq(users::credentials_version + 1),
                    ))
                    .returning(users::credentials_version)
                    .get_result::<i64>(connection)
                    .optional()?;
                let Some(version) = updated else { return Ok(0) };
                if let Some(keep) = keep {
                    diesel::update(sessions::table.find(keep.to_string()).filter(sessions::user_id.eq(id)))
                        .set(sessions::credentials_version.eq(version))
                        .execute(connection)?;
                }
                mail_queue::insert_job(connection, &sealer, &notice)?;
                Ok(1)
            }
        })
        .await
    }

    async fn delete(&self, id: UserId) -> Result<(), UserRepositoryError> {
        // Foreign keys (ON DELETE CASCADE, enforced by the connection's pragma) take the sessions,
        // refresh tokens and one-time tokens with the user. The audit rows lose their personal
        // fields; the digests the chain covers stay.
        self.update_one(id, move |connection, id| {
            let deleted = diesel::delete(users::table.find(id)).execute(connection)?;
            if deleted == 1 {
                diesel::update(audit_events::table.filter(audit_events::user_id.eq(id)))
                    .set((audit_events::ip.eq(None::<String>), audit_events::user_agent.eq(None::<String>)))
                    .execute(connection)?;
            }
            Ok(deleted)
        })
        .await
    }

    async fn set_roles(&self, id: UserId, roles: &[Role], at: OffsetDateTime) -> Result<(), UserRepositoryError> {
        let roles = encode_roles(roles);
        self.update_one(id, move |connection, id| {
            diesel::update(users::table.find(id))
                .set((
                    users::roles.eq(roles),
                    users::updated_at.eq(encode_instant(at)),
                    users::credentials_version.eq(users::credentials_version + 1),
                ))
                .execute(connection)
        })
        .await
    }

    async fn set_disabled(&self, id: UserId, disabled: bool, at: OffsetDateTime) -> Result<(), UserRepositoryError> {
        self.update_one(id, move |connection, id| {
            diesel::update(users::table.find(id))
                .set((
                    users::disabled.eq(disabled),
                    users::updated_at.eq(encode_instant(at)),
                    users::credentials_version.eq(users::credentials_version + 1),
                ))
                .execute(connection)
        })
        .await
    }

    async fn list(&self, query: &UserQuery) -> Result<Vec<User>, InfrastructureError> {
        let query = query.clone();
        self.database
            .read(move |connection| {
                let mut statement = users::table
                    .select(UserRow::as_select())
                    .order(users::id.asc())
                    .limit(i64::from(query.limit))
                    .into_boxed();
                if let Some(after) = query.after {
                    statement = statement.filter(users::id.gt(after.to_string()));
                }
                if let Some(text) = &query.email_contains {
                    statement = statement.filter(users::email.like(crate::stored::contains_pattern(text)).escape('\\'));
                }
                statement.load::<UserRow>(connection)?.into_iter().map(UserRow::into_user).collect()
            })
            .await
    }
}

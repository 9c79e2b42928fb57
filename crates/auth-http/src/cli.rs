//! The command line of the `auth-http` binary: serve (the default), migrate, user admin, and the
//! OpenAPI document.

use anyhow::Context;
use clap::{Parser, Subcommand};

use auth_domain::signing_keys::KeyStatus;

use crate::config::Settings;
use crate::startup::{Application, Components, Database, MigrationPolicy};

#[derive(Debug, Parser)]
#[command(name = "auth-http", version, about = "A JWT authentication service. Configured by AUTH_* variables.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the embedded database if needed, then serve (the default). On PostgreSQL, refuses
    /// to serve while migrations are pending, unless `--migrate` is given.
    Serve {
        /// Apply pending PostgreSQL migrations before serving.
        #[arg(long)]
        migrate: bool,
    },
    /// Apply pending migrations to AUTH_DATABASE_URL and exit.
    Migrate,
    /// Check the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage user accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Rotate, list and retire the signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Look at the mail queue.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// Print the OpenAPI document of this build (what `/openapi.json` serves) and exit. Reads no
    /// configuration.
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// How many mails wait, and how many failed for good.
    Status,
    /// The failed mails, newest first: id, template, attempts, last error.
    Failed {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue a failed mail again (its attempts start over), e.g. after fixing AUTH_SMTP_URL.
    Retry { id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make the next signing key: published in the JWKS at once, signing after the publish lead
    /// (a reload interval plus the JWKS cache lifetime plus a margin), so that verifiers' caches
    /// hold it before its first token. The current key keeps verifying until its tokens expire.
    Rotate {
        /// Sign with the new key after this long instead (e.g. `10s`; `--activate-after 1s` for
        /// an emergency, when a leaked key must stop signing as soon as possible).
        #[arg(long, value_parser = parse_duration_argument, conflicts_with = "now")]
        activate_after: Option<std::time::Duration>,
        /// Sign with the new key at once (an emergency: verifiers that cached the JWKS learn of
        /// it only when they refetch on its unknown kid).
        #[arg(long)]
        now: bool,
    },
    /// Every signing key with its status: pending, current, previous (verifying until ...),
    /// expired or retired.
    List,
    /// Take a key that is not current out at once: it leaves the JWKS and its tokens are refused.
    Retire {
        /// The key id, as `keys list` prints it. Key ids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

fn parse_duration_argument(text: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(text).ok_or_else(|| format!("expected a duration such as 10s or 2m, got {text:?}"))
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Prove that no audit row was altered or removed: recompute the hash chain from the first row.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Give a role to the account with this email (e.g. make the first admin).
    GrantRole { email: String, role: String },
    /// Take a role away from the account with this email.
    RevokeRole { email: String, role: String },
}

/// Runs one command to completion.
///
/// # Errors
/// Whatever stopped the command; `main` prints it and exits non-zero.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Openapi => print_openapi(),
        Command::Serve { migrate } => {
            let policy = if migrate { MigrationPolicy::Apply } else { MigrationPolicy::Refuse };
            let application = Application::build(settings, policy).await?;
            application.run_until_stopped().await.context("the server failed")?;
            tracing::info!("auth-http stopped");
            Ok(())
        }
        Command::Migrate => {
            let database = Database::open(&settings)?;
            let applied = database.migrate().await.context("cannot apply the migrations")?;
            for migration in &applied {
                println!("applied {migration}");
            }
            let pending = database.pending_migrations().await?;
            anyhow::ensure!(pending.is_empty(), "migrations still pending: {}", pending.join(", "));
            println!("the database is up to date ({} migrations applied now)", applied.len());
            Ok(())
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let database = Database::open(&settings)?;
            let verdict = database.verify_audit_chain().await.context("cannot read the audit log")?;
            let summary = verdict?;
            println!("the audit log is intact: {} rows, each chained to the one before", summary.rows);
            if summary.erased > 0 {
                println!(
                    "{} rows had their IP or user agent erased (deleted accounts); their digests still match",
                    summary.erased
                );
            }
            Ok(())
        }
        Command::Keys { command } => keys(command, &settings).await,
        Command::Mail { command } => {
            let database = Database::open(&settings)?;
            let queue = database.mail_queue(&settings)?;
            match command {
                MailCommand::Status => {
                    let stats = queue.stats().await.context("cannot read the mail queue")?;
                    println!("pending: {}\nfailed: {}", stats.pending, stats.failed);
                }
                MailCommand::Failed { limit } => {
                    for mail in queue.list_failed(limit).await.context("cannot read the mail queue")? {
                        println!(
                            "{}\t{}\t{} attempts\tqueued {}\tfailed {}\t{}",
                            mail.id, mail.template, mail.attempts, mail.queued_at, mail.failed_at, mail.last_error
                        );
                    }
                }
                MailCommand::Retry { id } => {
                    let id: auth_domain::MailJobId =
                        id.parse().context("expected a mail id, as `mail failed` prints")?;
                    let requeued = queue
                        .requeue_failed(id, time::OffsetDateTime::now_utc())
                        .await
                        .context("cannot write the mail queue")?;
                    anyhow::ensure!(requeued, "no failed mail has the id {id}");
                    println!("{id} is queued again");
                }
            }
            Ok(())
        }
        Command::Users { command } => {
            let components = Components::build(
                &settings,
                MigrationPolicy::Refuse,
                std::sync::Arc::new(crate::tasks::Deferred::on_current_runtime()),
            )
            .await?;
            let (email, role, granted) = match &command {
                UsersCommand::GrantRole { email, role } => (email, role, true),
                UsersCommand::RevokeRole { email, role } => (email, role, false),
            };
            let outcome = if granted {
                components.services.accounts.grant_role(email, role).await
            } else {
                components.services.accounts.revoke_role(email, role).await
            };
            // One command needs no key reloads: the keeper goes before the process does.
            components.key_keeper.abort();
            let user = outcome.map_err(|error| anyhow::anyhow!("{error}"))?;
            let roles = user.role_names().join(", ");
            println!("{}: roles are now [{roles}]", user.email);
            Ok(())
        }
    }
}

/// The `keys` commands. Replicas pick their effect up at their next key reload (AUTH_KEY_RELOAD_INTERVAL).
async fn keys(command: KeysCommand, settings: &Settings) -> anyhow::Result<()> {
    let database = Database::open(settings)?;
    database.prepare(MigrationPolicy::Refuse).await?;
    let service = database.signing_key_service(settings)?;
    match command {
        KeysCommand::Rotate { activate_after, now } => {
            let activate_after = if now { Some(std::time::Duration::ZERO) } else { activate_after };
            let key = service.rotate(activate_after).await.context("cannot rotate the signing key")?;
            if key.activates_at <= key.created_at {
                println!(
                    "{} ({}) is published and signs from now on; the previous key, if any, keeps verifying its tokens until they expire",
                    key.kid, key.algorithm
                );
            } else {
                println!(
                    "{} ({}) is published now and signs from {}; the current key keeps verifying its tokens until they expire",
                    key.kid,
                    key.algorithm,
                    timestamp(key.activates_at)
                );
            }
        }
        KeysCommand::List => {
            let keys = service.list().await.context("cannot read the signing keys")?;
            if keys.is_empty() {
                println!("no signing keys yet: the first start of the service makes one");
            }
            println!("KID\tALG\tSTATUS\tCREATED\tSIGNS FROM\tUNTIL");
            for key in keys {
                let until = match key.status {
                    KeyStatus::Previous { verifies_until } => format!("verifies until {}", timestamp(verifies_until)),
                    KeyStatus::Retired | KeyStatus::Expired => {
                        key.retired_at.map(|at| format!("retired {}", timestamp(at))).unwrap_or_default()
                    }
                    KeyStatus::Pending | KeyStatus::Current => String::new(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    key.kid,
                    key.algorithm,
                    key.status.as_str(),
                    timestamp(key.created_at),
                    timestamp(key.activates_at),
                    until
                );
            }
        }
        KeysCommand::Retire { kid } => {
            service.retire(&kid).await.map_err(|error| anyhow::anyhow!("{error}"))?;
            println!("{kid} is retired: it has left the JWKS, and its tokens are refused");
        }
    }
    Ok(())
}

fn timestamp(instant: time::OffsetDateTime) -> String {
    instant
        .replace_nanosecond(0)
        .unwrap_or(instant)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| instant.unix_timestamp().to_string())
}

/// Writes the OpenAPI document to standard output.
///
/// # Errors
/// When standard output cannot be written (a closed pipe, a full disk).
pub fn print_openapi() -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(crate::openapi::to_json().as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write the document")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn a_key_id_that_starts_with_a_hyphen_is_an_argument_not_an_option() {
        let cli = Cli::try_parse_from(["auth-http", "keys", "retire", "-2xYz_Ab"]).expect("parses");
        assert!(matches!(
            cli.command,
            Some(Command::Keys { command: KeysCommand::Retire { kid } }) if kid == "-2xYz_Ab"
        ));
    }

    #[test]
    fn a_rotation_takes_a_delay_or_now_but_not_both() {
        let cli = Cli::try_parse_from(["auth-http", "keys", "rotate", "--activate-after", "10s"]).expect("parses");
        assert!(matches!(
            cli.command,
            Some(Command::Keys { command: KeysCommand::Rotate { activate_after: Some(delay), now: false } })
                if delay == std::time::Duration::from_secs(10)
        ));
        assert!(Cli::try_parse_from(["auth-http", "keys", "rotate", "--activate-after", "10s", "--now"]).is_err());
        assert!(Cli::try_parse_from(["auth-http", "keys", "rotate", "--activate-after", "soon"]).is_err());
    }
}

//! [`MailStamp`]: wraps mails for the queue and draws the one-time tokens that mails carry.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::ids::MailJobId;
use crate::mail::{Mail, QueuedMail};
use crate::ports::{Clock, IdGenerator, MailedToken, OneTimeTokenRecord, RandomSource, TokenPurpose};
use crate::services::AuthPolicy;
use crate::tokens::OneTimeToken;
use crate::user::User;

#[derive(Clone)]
pub(crate) struct MailStamp {
    ids: Arc<dyn IdGenerator>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    policy: Arc<AuthPolicy>,
}

impl std::fmt::Debug for MailStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailStamp")
    }
}

impl MailStamp {
    pub(crate) fn new(
        ids: Arc<dyn IdGenerator>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        policy: Arc<AuthPolicy>,
    ) -> Self {
        Self { ids, clock, random, policy }
    }

    /// Wraps `mail` for the queue, stamped now.
    pub(crate) fn queued(&self, mail: Mail) -> QueuedMail {
        QueuedMail { id: MailJobId::from_uuid(self.ids.new_id()), mail, queued_at: self.clock.now() }
    }

    /// A fresh one-time token for `user`, with the mail that carries it.
    pub(crate) fn mailed_token(&self, user: &User, purpose: TokenPurpose, now: OffsetDateTime) -> MailedToken {
        let token = OneTimeToken::from_random_bytes(self.random.token_bytes());
        let (ttl, mail) = match purpose {
            TokenPurpose::VerifyEmail => {
                (self.policy.verify_email_ttl, Mail::VerifyEmail { to: user.email.clone(), token: token.clone() })
            }
            TokenPurpose::PasswordReset => {
                (self.policy.reset_password_ttl, Mail::PasswordReset { to: user.email.clone(), token: token.clone() })
            }
        };
        MailedToken {
            record: OneTimeTokenRecord {
                hash: token.hash(),
                user_id: user.id,
                purpose,
                created_at: now,
                expires_at: now + ttl,
            },
            mail: self.queued(mail),
        }
    }
}

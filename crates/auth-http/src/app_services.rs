//! The domain's area services as actix app data: each handler extracts the one service it needs
//! (`web::Data<LoginService>`, `web::Data<AdminService>`, ...), so its signature says what it
//! depends on.

use actix_web::web;
use auth_domain::AuthServices;
use auth_domain::services::{
    AccountService, AdminService, Authenticator, ClientService, LoginService, MfaService, PasswordService,
    RegistrationService, RevocationService, SessionService,
};

/// Each area's service, shared by every worker of the server.
#[derive(Debug, Clone)]
pub struct AppServices {
    login: web::Data<LoginService>,
    sessions: web::Data<SessionService>,
    authenticator: web::Data<Authenticator>,
    registration: web::Data<RegistrationService>,
    passwords: web::Data<PasswordService>,
    accounts: web::Data<AccountService>,
    mfa: web::Data<MfaService>,
    admin: web::Data<AdminService>,
    clients: web::Data<ClientService>,
    revocations: web::Data<RevocationService>,
}

impl AppServices {
    pub fn new(services: AuthServices) -> Self {
        Self {
            login: web::Data::new(services.login),
            sessions: web::Data::new(services.sessions),
            authenticator: web::Data::new(services.authenticator),
            registration: web::Data::new(services.registration),
            passwords: web::Data::new(services.passwords),
            accounts: web::Data::new(services.accounts),
            mfa: web::Data::new(services.mfa),
            admin: web::Data::new(services.admin),
            clients: web::Data::new(services.clients),
            revocations: web::Data::new(services.revocations),
        }
    }

    /// Registers every service as app data of one app.
    pub fn register(&self, config: &mut web::ServiceConfig) {
        config
            .app_data(self.login.clone())
            .app_data(self.sessions.clone())
            .app_data(self.authenticator.clone())
            .app_data(self.registration.clone())
            .app_data(self.passwords.clone())
            .app_data(self.accounts.clone())
            .app_data(self.mfa.clone())
            .app_data(self.admin.clone())
            .app_data(self.clients.clone())
            .app_data(self.revocations.clone());
    }
}

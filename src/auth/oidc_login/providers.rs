//! The configured identity providers: each discovered on first use and again after a failed
//! discovery (recovery never needs a restart), found by id, by a user's linked identities, and
//! asked whether a proof by them resists phishing.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::RwLock;

use super::super::session::Factor;
use super::super::{Error, oidc};
use crate::config::oidc::{ProviderConfig, Providers as ProviderConfigs};
use crate::store::Store;

/// One configured provider, discovered on first use: recovery never needs a restart.
pub struct Provider {
    pub id: String,
    pub config: ProviderConfig,
    settings: oidc::Settings,
    client: RwLock<Option<oidc::Client>>,
}

impl Provider {
    fn new(id: &str, cfg: &ProviderConfig, public_url: &str) -> Provider {
        Provider {
            id: id.to_owned(),
            config: cfg.clone(),
            settings: oidc::Settings {
                issuer: cfg.issuer.clone(),
                client_id: cfg.client_id.clone(),
                client_secret: cfg.client_secret.clone(),
                redirect_url: redirect_url(public_url, id),
                scopes: cfg.scopes.clone(),
                trust: cfg.two_factors.clone(),
                request_acr: cfg.request_acr(),
                acr_values: cfg.requested_acr(),
                timeout: std::time::Duration::from_secs(cfg.timeout_secs),
            },
            client: RwLock::new(None),
        }
    }

    /// The discovered client; a failed discovery is not kept, so the next request retries.
    pub async fn client(&self) -> Result<oidc::Client, oidc::Error> {
        if let Some(client) = self.client.read().await.as_ref() {
            return Ok(client.clone());
        }
        let mut slot = self.client.write().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = oidc::Client::discover(self.settings.clone()).await?;
        *slot = Some(client.clone());
        Ok(client)
    }
}

/// The redirect URI to register at provider `id`: one per provider (RFC 9207 §2.4's advice
/// against mix-up), `<public_url>/auth/oidc/<id>/callback`.
pub fn redirect_url(public_url: &str, id: &str) -> String {
    format!(
        "{}/auth/oidc/{id}/callback",
        public_url.trim_end_matches('/')
    )
}

/// Every configured provider, by id.
#[derive(Default)]
pub struct Providers {
    by_id: BTreeMap<String, Arc<Provider>>,
}

impl Providers {
    pub fn new(configs: &ProviderConfigs, public_url: &str) -> Providers {
        Providers {
            by_id: configs
                .iter()
                .map(|(id, cfg)| (id.clone(), Arc::new(Provider::new(id, cfg, public_url))))
                .collect(),
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Provider>> {
        self.by_id.get(id).cloned()
    }

    /// In the configuration's order of ids.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.by_id.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The providers at which the user has a linked identity (where they can step up).
    pub async fn of_user(&self, store: &Store, user_id: &str) -> Result<Vec<Arc<Provider>>, Error> {
        let issuers = store.oidc_issuers_of(user_id).await?;
        Ok(self
            .all()
            .filter(|p| issuers.contains(&p.config.issuer))
            .cloned()
            .collect())
    }

    /// Whether a proof by `factor` resists real-time phishing: a passkey does; a provider does
    /// when its configuration says so.
    pub fn is_phishing_resistant(&self, factor: &Factor) -> bool {
        match factor {
            Factor::Passkey => true,
            Factor::Oidc(id) => self
                .by_id
                .get(id)
                .is_some_and(|p| p.config.phishing_resistant),
            Factor::Totp | Factor::RecoveryCode => false,
        }
    }
}

//! What the domain works with: the configuration, the store, the register, the keys, the
//! policy in force, the identity provider, the mailer and the audit log's second sinks.
//!
//! Guarantees: nothing here is about HTTP. Domain code (`extract`, `admin`, `oversight`, …)
//! takes a `&Context`; the web layer's own state (`web::AppState`: metrics, page templates,
//! trusted proxies) wraps one and derefs to it, so a handler hands its state straight to the
//! domain. Cheap to clone: every handle inside is reference-counted.

use std::sync::Arc;

use crate::audit;
use crate::auth::oidc_login::Providers;
use crate::config::Config;
use crate::crypto::{Keyring, PseudonymKey};
use crate::notify::mail::Mailer;
use crate::policy::source::Source;
use crate::register::Register;
use crate::store::Store;

#[derive(Clone)]
pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
    pub register: Register,
    pub keyring: Arc<Keyring>,
    /// The access policy in force (the latest stored version, else the base policy).
    pub policy: Arc<Source>,
    /// The identity providers of `[oidc.<id>]` (none: local accounts only).
    pub oidc: Arc<Providers>,
    /// The relying party for passkeys, when they are on (`[passkeys]`, `server.public_url`).
    pub passkeys: Option<Arc<crate::auth::passkey::RelyingPartyHandle>>,
    /// Names this process in audit events (several brokers may share one store).
    pub instance: Arc<str>,
    /// The key behind member pseudonyms in the ledger and the audit log.
    pub pseudonyms: Arc<PseudonymKey>,
    /// E-mail for notices, when `[smtp]` is configured.
    pub mailer: Option<Mailer>,
    /// The second sink for signed audit checkpoints, when `[audit] checkpoint_file` is set.
    pub checkpoints: Option<audit::checkpoint::Sink>,
    /// The queue to syslog, when `[audit] syslog` is set: checkpoints go in here; committed
    /// audit entries are tailed from the store by the forwarder.
    pub syslog: Option<audit::syslog::Sink>,
}

//! The state every handler gets: the domain's [`Context`] and what only the web layer uses.
//!
//! Guarantees: `AppState` derefs to the `Context`, so handlers pass `&state` to domain
//! functions; nothing below `web` ever sees the metrics, the page templates or the proxy list.

use std::ops::Deref;
use std::sync::Arc;

use crate::context::Context;

use super::client_addr::TrustedProxies;
use super::metrics::Metrics;
use super::render::Pages;

#[derive(Clone)]
pub struct AppState {
    pub ctx: Context,
    pub metrics: Arc<Metrics>,
    pub pages: Arc<Pages>,
    /// The proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    pub trusted_proxies: Arc<TrustedProxies>,
}

impl Deref for AppState {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

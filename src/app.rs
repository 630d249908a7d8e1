//! Start-up and shutdown: turns a validated [`Config`] into a running broker.
//!
//! Guarantees: the broker serves nothing unless every check passed — the data dir is
//! writable, the key file exists, is private (mode 0600) and opens this store's keys, the
//! store is migrated and runs with its durability settings, the register is reachable and its
//! mapping matches its columns, and the audit log accepts a write. Each failure is one
//! sentence naming the fix. The key file is read here only: a running broker keeps its keys
//! in memory and never re-reads the file (rotation takes effect at the next start).
//! The server takes an already-bound listener, so tests bind port 0.
//! Under systemd it reports readiness and pings the watchdog ([`systemd`]); SIGTERM stops it
//! gracefully, SIGHUP writes an audit checkpoint and changes nothing else ([`hangup`]).
//! Starting with no second audit sink logs one warning naming `audit.checkpoint_file`.

pub mod hangup;
mod systemd;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::config::Config;
use crate::context::Context;
use crate::crypto::{self, Keyring};
use crate::register::{self, Register};
use crate::store::{self, Store};
use crate::web::{self, AppState};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error(transparent)]
    Keys(#[from] crypto::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Register(#[from] register::Error),
    #[error(transparent)]
    Audit(#[from] audit::Error),
    /// A readable, well-formed key file that is not the one this store was made with.
    #[error(
        "key file {} does not open this store's keys ({why}); restore the key file that belongs to this store — a new key cannot open existing data",
        .path.display()
    )]
    KeyFileNotThisStores {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("store.data_dir {path} is not writable by this user: {reason}")]
    DataDirNotWritable { path: String, reason: String },
    #[error("cannot listen on {addr}: {reason}; is another program using the port?")]
    Bind { addr: String, reason: String },
    #[error(transparent)]
    Mail(#[from] crate::notify::mail::Error),
    #[error(transparent)]
    Checkpoint(#[from] audit::checkpoint::Error),
    #[error("configuration key `audit.syslog` {0}")]
    Syslog(#[from] audit::syslog::Error),
    #[error("configuration section `[passkeys]`: {0}")]
    Passkeys(crate::auth::Error),
}

/// A broker that passed its start-up checks and holds its listener.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    syslog: Option<audit::syslog::Outbox>,
}

impl Application {
    /// Checks everything and binds `server.listen`.
    /// Every check runs before the port is bound, so a broken configuration is reported as
    /// itself, never hidden behind "address in use".
    pub async fn build(config: Config) -> Result<Application, Error> {
        let addr = config.listen_addr()?;
        let (state, syslog) = Self::prepare(config).await?;
        let listener = TcpListener::bind(addr).await.map_err(|e| Error::Bind {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Application {
            listener,
            state,
            syslog,
        })
    }

    /// Checks everything and serves on a listener the caller bound (tests use port 0).
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> Result<Application, Error> {
        let (state, syslog) = Self::prepare(config).await?;
        Ok(Application {
            listener,
            state,
            syslog,
        })
    }

    /// The start-up checks, in the order of the module header; the state they produce.
    async fn prepare(config: Config) -> Result<(AppState, Option<audit::syslog::Outbox>), Error> {
        if !config.audit.has_second_sink() {
            tracing::warn!("{}", crate::config::NO_SECOND_AUDIT_SINK);
        }
        ensure_writable(&config.store.data_dir)?;
        let keyring = Keyring::load(&config.keys.kek_file)?;
        let store = open_store(&config, false).await?;
        store.ensure_migrated().await?;
        store.check_settings().await?;
        let register = Register::open(&config.register).await?;
        store.check_audit_writable().await?;
        let pseudonyms = load_pseudonym_key(&store, &keyring)
            .await
            .map_err(|e| not_this_stores(e, &config.keys.kek_file))?;
        let pseudonyms = Arc::new(pseudonyms);
        let checkpoints = config
            .audit
            .checkpoint_file
            .clone()
            .map(audit::checkpoint::Sink::new);
        if let Some(sink) = &checkpoints {
            sink.probe().await?;
        }
        let metrics = Arc::new(web::metrics::Metrics::new());
        let (syslog, outbox) = match config
            .audit
            .syslog_destination()
            .map_err(audit::syslog::Error::from)?
        {
            Some(destination) => {
                if destination.transport == audit::syslog::Transport::Tls {
                    // A CA file that cannot be read stops the start, not every message later.
                    audit::syslog::tls_config(&destination)?;
                }
                let origin = audit::syslog::Origin::this_process(config.audit.syslog_facility);
                let (sink, outbox) =
                    audit::syslog::channel(destination, origin, metrics.syslog_stats());
                (Some(sink), Some(outbox))
            }
            None => (None, None),
        };
        let mailer = config
            .smtp
            .as_ref()
            .map(crate::notify::mail::Mailer::new)
            .transpose()?;
        let oidc = Arc::new(crate::auth::oidc_login::Providers::new(
            &config.oidc,
            &config.server.public_url,
        ));
        // Validated when the configuration loaded; pages show times in this zone.
        if let Err(e) = crate::web::i18n::set_time_zone(&config.server.time_zone) {
            tracing::warn!(zone = %config.server.time_zone, error = %e, "time zone not found; pages show Europe/Stockholm");
        }
        let passkeys = config
            .passkeys
            .relying_party(&config.server.public_url)?
            .map(|rp| crate::auth::passkey::RelyingPartyHandle::new(&rp).map(Arc::new))
            .transpose()
            .map_err(Error::Passkeys)?;
        let policy =
            Arc::new(crate::policy::source::Source::new(base_policy_texts(&config).await).await);
        let trusted_proxies = Arc::new(web::client_addr::TrustedProxies::new(
            config.trusted_proxies()?,
        ));
        let ctx = Context {
            policy,
            config: Arc::new(config),
            store,
            register,
            keyring: Arc::new(keyring),
            oidc,
            passkeys,
            instance: Arc::from(crypto::random_id128().get(..12).unwrap_or("instance")),
            pseudonyms,
            mailer,
            checkpoints,
            syslog,
        };
        let state = AppState {
            ctx,
            metrics,
            pages: Arc::new(web::render::Pages::new()),
            trusted_proxies,
        };
        Ok((state, outbox))
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (up to
    /// `server.shutdown_grace_secs`), records `system.stop`, writes a final checkpoint and
    /// closes the store. Tells systemd `READY=1` once serving and `STOPPING=1` when the stop
    /// begins; answers SIGHUP with a checkpoint ([`hangup`]). Clients
    /// that take longer than `server.header_read_timeout_secs` to send a request's headers
    /// are disconnected (`web::serve`).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let Application {
            listener,
            state,
            syslog,
        } = self;
        let listen = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        // Forward from here on, `system.start` included (events recorded while no broker ran
        // are in the store and its exports, not in syslog).
        let forwarder = match syslog {
            Some(outbox) => {
                let head = state
                    .store
                    .find_audit_head()
                    .await?
                    .map_or(0, |(seq, _)| seq);
                Some(outbox.start(state.store.clone(), head))
            }
            None => None,
        };
        let kek_id = state.keyring.active_key_id().to_string();
        record_key_rotation(&state, &kek_id).await?;
        audit::record_now(
            &state.store,
            &Event::system_started(env!("CARGO_PKG_VERSION"), &listen, &state.instance, &kek_id),
            time::OffsetDateTime::now_utc(),
        )
        .await?;
        tracing::info!(%listen, instance = %state.instance, "registervakt is serving");
        let housekeeping = tokio::spawn(housekeeping(state.clone()));
        let checkpointer = tokio::spawn(write_checkpoints(state.clone()));
        let hangups = tokio::spawn(hangup::answer(state.clone()));
        let watchdog = tokio::spawn(systemd::watchdog());
        let sweeper = tokio::spawn(crate::extract::expire::run_sweeper(
            state.ctx.clone(),
            Duration::from_secs(state.config.extracts.sweep_interval_secs),
        ));
        let _readiness = web::api::health::refresh_in_background(state.clone());
        let grace = Duration::from_secs(state.config.server.shutdown_grace_secs);
        let router = web::router(state.clone());
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let header_read_timeout = Duration::from_secs(state.config.server.header_read_timeout_secs);
        let server = web::serve::serve(listener, router, header_read_timeout, async move {
            shutdown.await;
            systemd::stopping();
            let _ = stopping_tx.send(());
        });
        // Every check passed, the listener is bound and `system.start` is recorded: the port
        // answers from here on.
        systemd::ready(&listen);
        tokio::select! {
            () = server => {}
            () = async {
                let _ = stopping_rx.await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("in-flight requests did not finish within the grace period");
            }
        };
        housekeeping.abort();
        sweeper.abort();
        checkpointer.abort();
        hangups.abort();
        if let Err(e) = audit::record_now(
            &state.store,
            &Event::system_stopped(&state.instance),
            time::OffsetDateTime::now_utc(),
        )
        .await
        {
            tracing::error!(error = %e, "could not record system.stop in the audit log");
        }
        let mut forwarder = forwarder;
        if let Some(f) = &mut forwarder {
            f.finish_tail(Duration::from_secs(5)).await;
        }
        if state.checkpoints.is_some() || state.syslog.is_some() {
            let now = time::OffsetDateTime::now_utc();
            if let Err(e) = checkpoint_now(&state, now).await {
                tracing::error!(error = %e, "could not write the shutdown checkpoint");
            }
        }
        if let (Some(f), Some(sink)) = (forwarder, &state.syslog) {
            sink.flush(Duration::from_secs(5)).await;
            f.stop();
        }
        watchdog.abort();
        state.store.close().await;
        tracing::info!("registervakt stopped");
        Ok(())
    }
}

/// The base policy's texts: `[policy] dir`, else the shipped policy. An unreadable dir gives
/// texts that do not parse, so the policy denies every request (C6) and readiness reports it
/// — the broker does not stop, and nothing is released.
pub async fn base_policy_texts(config: &Config) -> crate::policy::Texts {
    match &config.policy.dir {
        Some(dir) => match crate::policy::Texts::read(dir).await {
            Ok(texts) => texts,
            Err(e) => {
                tracing::error!(error = %e, "the policy files cannot be read; every request will be denied");
                crate::policy::Texts {
                    model: String::new(),
                    permissions: String::new(),
                    purposes: String::new(),
                }
            }
        },
        None => crate::policy::Texts::shipped(),
    }
}

/// Writes a signed checkpoint at start and every `audit.checkpoint_interval_secs`; after a
/// failure (logged; readiness and release already fail on the sink's probe) it tries again
/// every few seconds, so service resumes without a restart once the sink is writable.
async fn write_checkpoints(state: AppState) {
    if state.checkpoints.is_none() && state.syslog.is_none() {
        return;
    }
    let every = Duration::from_secs(state.config.audit.checkpoint_interval_secs);
    loop {
        let now = time::OffsetDateTime::now_utc();
        let pause = match checkpoint_now(&state, now).await {
            Ok(c) => {
                tracing::debug!(entries = c.entries, "audit checkpoint written");
                every
            }
            Err(e) => {
                tracing::error!(error = %e, "audit checkpoint failed; no data is released until it works");
                Duration::from_secs(5).min(every)
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// Signs a checkpoint, appends it to the file sink (if any) and, once that worked, queues a
/// copy for syslog (if configured; never waits for it).
async fn checkpoint_now(
    state: &AppState,
    now: time::OffsetDateTime,
) -> Result<audit::checkpoint::Checkpoint, audit::checkpoint::Error> {
    let checkpoint = audit::checkpoint::sign(&state.store, &state.keyring, now).await?;
    if let Some(file) = &state.checkpoints {
        audit::checkpoint::append(file, &checkpoint).await?;
    }
    if let Some(syslog) = &state.syslog {
        syslog.checkpoint(&checkpoint);
    }
    Ok(checkpoint)
}

/// Records `keys.rotate` when the active key-encryption key differs from the one the last
/// `system.start` named (D5): a rotation is a file edit the broker cannot see happen, so it is
/// recorded by the first broker to start with the new key. Nothing is recorded when the last
/// start named no key (a log begun before starts did).
async fn record_key_rotation(state: &AppState, kek_id: &str) -> Result<(), audit::Error> {
    let Some(last) = state
        .store
        .find_newest_audit_event(EventKind::SystemStarted.code())
        .await?
    else {
        return Ok(());
    };
    let details: serde_json::Value = serde_json::from_str(&last.details).unwrap_or_default();
    let Some(before) = details.get("kek_id").and_then(|v| v.as_str()) else {
        return Ok(());
    };
    if before == kek_id {
        return Ok(());
    }
    tracing::info!(from = %before, to = %kek_id, "the active key-encryption key changed");
    let event = Event::new(
        EventKind::KeysRotated,
        Actor::system(),
        "keys",
        Outcome::Success,
        serde_json::json!({ "from": before, "to": kek_id, "instance": &state.instance }),
    );
    audit::record_now(&state.store, &event, time::OffsetDateTime::now_utc()).await?;
    Ok(())
}

/// Every minute, and once at start: removes expired sessions and unfinished OIDC logins, and
/// runs the recertification pass (suspensions recorded, advance notices sent), and draws the
/// follow-up samples of periods that ended.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let now = time::OffsetDateTime::now_utc();
        match crate::auth::session::sweep(&state.store, &state.config.sessions, now).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "expired sessions removed"),
            Err(e) => tracing::warn!(error = %e, "session housekeeping failed; will retry"),
        }
        // Recertification of roles: record suspensions, send advance notices (each once).
        match crate::admin::recertify::sweep(&state.store, &state.config.roles, now).await {
            Ok(swept) if swept.noticed > 0 => crate::notify::kick(
                &state.store,
                state.mailer.as_ref(),
                &state.config.server.public_url,
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "role recertification pass failed; will retry"),
        }
        // Sampled follow-up: draw every ended period not drawn yet (once, whichever broker or
        // page comes first).
        let system = crate::audit::Actor::system();
        match crate::oversight::followup::draw::draw_due(&state, &system, None, now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(draws = n, "follow-up samples drawn"),
            Err(e) => tracing::warn!(error = %e, "drawing follow-up samples failed; will retry"),
        }
    }
}

/// The broker's pseudonym key: made once, kept sealed under the KEK in the store, the same for
/// every broker on one store (the first one stored wins a race).
pub async fn load_pseudonym_key(
    store: &Store,
    keyring: &Keyring,
) -> Result<crypto::PseudonymKey, Error> {
    let aad = format!("broker_key:{}", crypto::PSEUDONYM_KEY_NAME).into_bytes();
    let fresh = crypto::PseudonymKey::generate_bytes();
    let sealed = keyring.seal(&fresh[..], &aad)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let stored = store
        .find_or_insert_broker_key(crypto::PSEUDONYM_KEY_NAME, &sealed, now)
        .await?;
    let bytes = keyring.open(&stored, &aad)?;
    crypto::PseudonymKey::from_slice(&bytes).ok_or(Error::Keys(crypto::Error::Format(
        "the stored pseudonym key has the wrong length",
    )))
}

/// Names the key file when the store's sealed pseudonym key does not open with it (another
/// broker's key file, or a fresh one over an existing store); other errors pass unchanged.
fn not_this_stores(e: Error, kek_file: &Path) -> Error {
    let why = match &e {
        Error::Keys(crypto::Error::UnknownKeyId(id)) => {
            format!("they were sealed with key {id}, which the file does not hold")
        }
        Error::Keys(crypto::Error::Decrypt) => {
            "the key with their key id does not decrypt them".to_owned()
        }
        _ => return e,
    };
    Error::KeyFileNotThisStores {
        path: kek_file.to_path_buf(),
        why,
    }
}

/// Opens the store described by `config` (creating a SQLite file only when `create`).
pub async fn open_store(config: &Config, create: bool) -> Result<Store, store::Error> {
    Store::open(&store::Options {
        location: config.store_location(),
        busy_timeout: Duration::from_millis(config.store.busy_timeout_ms),
        max_connections: config.store.max_connections,
        create,
    })
    .await
    .map(|store| store.with_role_term(config.roles.term_secs()))
}

/// Creates and migrates the store (`registervakt init`); idempotent.
pub async fn init_store(config: &Config) -> Result<Store, Error> {
    ensure_writable(&config.store.data_dir)?;
    let store = open_store(config, true).await?;
    store.migrate().await?;
    store.check_settings().await?;
    audit::record_now(
        &store,
        &Event::store_initialised(store.backend_name()),
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(store)
}

fn ensure_writable(dir: &Path) -> Result<(), Error> {
    let not_writable = |reason: String| Error::DataDirNotWritable {
        path: dir.display().to_string(),
        reason,
    };
    if !dir.is_dir() {
        return Err(not_writable(
            "it does not exist; create it (mkdir -m 700) or fix the path".into(),
        ));
    }
    let probe = dir.join(format!(".write-probe-{}", crypto::random_id128()));
    std::fs::write(&probe, b"").map_err(|e| not_writable(e.to_string()))?;
    std::fs::remove_file(&probe).map_err(|e| not_writable(e.to_string()))?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (SIGHUP does not stop the broker: [`hangup`]).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}

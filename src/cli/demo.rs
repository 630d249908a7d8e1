//! `registervakt demo`: one command from a fresh clone to a running broker on synthetic data.
//!
//! First run: creates `DIR/keys/kek.key` (0600), a synthetic SQLite register
//! `DIR/register.sqlite`, `DIR/registervakt.toml`, and the store in `DIR/data`. Later runs
//! reuse all of it. The config file is written last, so a run interrupted half-way is
//! redone from the start next time. Everything is synthetic: no real person is in it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::audit::{self, Event};
use crate::auth::session;
use crate::auth::{accounts, signin, totp};
use crate::config::{Config, DEFAULT_FILE, LogFormat};
use crate::crypto::Keyring;
use crate::nouns::{RoleGrant, Username};
use crate::store::Store;
use crate::store::register_writer;
use crate::synthetic;

/// Same seed, same members: a newcomer and a test see the same register.
const DEMO_SEED: u64 = 2026;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Synthetic members to create on the first run.
    #[arg(long, default_value_t = 50_000)]
    members: u64,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Directory for everything the demo creates.
    #[arg(long, default_value = "registervakt-demo")]
    data_dir: PathBuf,
    /// An SMTP server on loopback (PORT) for notices and the printer's hand-over mails, e.g.
    /// `python3 tests/smtp/sink.py --port 2525 --dir mails` and `--smtp 2525`. Without it the
    /// printer purpose is listed but refuses hand-overs (nothing could be mailed).
    #[arg(long)]
    smtp: Option<u16>,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if args.members == 0 || args.members > 5_000_000 {
        anyhow::bail!("--members must be between 1 and 5000000");
    }
    super::init_logging(LogFormat::Text);
    create_private_dir(&args.data_dir)?;
    let dir = args
        .data_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.data_dir.display()))?;
    let config_path = dir.join(DEFAULT_FILE);
    if !config_path.is_file() {
        set_up(&dir, args.members).await?;
    }
    let mut config = match args.smtp {
        None => Config::load(Some(&config_path))?,
        Some(port) => {
            let text = std::fs::read_to_string(&config_path)
                .with_context(|| format!("cannot read {}", config_path.display()))?;
            Config::from_toml(&format!("{text}\n{}", smtp_text(port)))?
        }
    };
    // A demo dir made by an older release gets this release's migrations (`serve` leaves that
    // to `registervakt init`, on purpose).
    let store = crate::app::open_store(&config, false).await?;
    store.migrate().await?;
    // The demo's roles are fresh at every start: nothing in a demo is suspended for want of a
    // confirmation (recertification), though the confirm page lists them with due dates.
    crate::admin::recertify::confirm_due_as_operator(
        &store,
        &config.roles,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    store.close().await;
    config.server.listen = args.listen;
    // A demo lives for minutes, a sampling period for a week: the demo lets a reviewer draw the
    // running period's sample at once (marked "drawn early" on the pages and in the log)
    // rather than invent releases in a past period.
    config.followup.sample_draw_early = true;
    config.server.demo_users_file = Some(dir.join(USERS_FILE).display().to_string());
    config.validate()?;
    // Bound first, so that the public URL can name the port (`--listen 127.0.0.1:0` too).
    let listener = tokio::net::TcpListener::bind(config.listen_addr()?)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr().context("listener has no address")?;
    // Passkeys are bound to a domain name, never an IP address (WebAuthn): on loopback the
    // demo is reached at http://localhost:PORT, which browsers treat as a secure context.
    config.server.public_url = if addr.ip().is_loopback() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    };
    config.validate()?;
    // What `registervakt user add --config <demo>/registervakt.toml` prints as the invitation
    // link (and what mail would say) must be where this demo is reached.
    record_address(
        &dir.join(DEFAULT_FILE),
        &addr.to_string(),
        &config.server.public_url,
    )?;
    let app = crate::app::Application::build_with_listener(config.clone(), listener).await?;
    // A closed stdout (a pipe whose reader went away) must not stop the demo: ignore write errors.
    let mut out = std::io::stdout();
    let shown = config.server.public_url.trim_end_matches('/').to_owned();
    let _ = writeln!(out, "Registervakt demo is serving on {shown}/");
    let _ = writeln!(out, "  data:   {}", dir.display());
    let _ = writeln!(
        out,
        "  users:  {} (passwords and authenticator secrets)",
        dir.join(USERS_FILE).display()
    );
    let _ = writeln!(
        out,
        "  verify: registervakt audit verify --data-dir {}",
        dir.display()
    );
    let _ = match args.smtp {
        Some(port) => writeln!(
            out,
            "  mail:   127.0.0.1:{port} (the printer purpose hands lists over by mail)"
        ),
        None => writeln!(
            out,
            "  mail:   none; start with --smtp PORT to try the printer hand-over"
        ),
    };
    let _ = writeln!(out, "Press Ctrl-C to stop.");
    let _ = out.flush();
    app.run_until_stopped(crate::app::shutdown_signal()).await?;
    Ok(())
}

async fn set_up(dir: &Path, members: u64) -> anyhow::Result<()> {
    println!(
        "First run: creating a synthetic register of {members} members in {}",
        dir.display()
    );
    let data = dir.join("data");
    let keys = dir.join("keys");
    create_private_dir(&data)?;
    create_private_dir(&keys)?;
    let kek = keys.join("kek.key");
    if !kek.exists() {
        Keyring::generate_file(&kek)?;
    }
    let register = dir.join("register.sqlite");
    for stale in ["", "-wal", "-shm", "-journal"] {
        let p = PathBuf::from(format!("{}{stale}", register.display()));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    let url = format!("sqlite:{}", register.display());
    register_writer::write_register(
        &url,
        synthetic::DEMO_TABLE,
        synthetic::generate(members, DEMO_SEED),
    )
    .await
    .context("cannot create the synthetic register")?;
    let text = config_text(&data, &kek, &url);
    let config = Config::from_toml(&text)?;
    let store = crate::app::init_store(&config).await?;
    audit::record_now(
        &store,
        &Event::demo_created(members),
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    let keyring = Keyring::load(&kek)?;
    let users = create_demo_users(&store, &keyring, &config).await?;
    write_private(&dir.join(USERS_FILE), &users_file(&users))?;
    // A QR code per user to scan with an authenticator app (as private as the users file).
    let qr = dir.join(QR_DIR);
    create_private_dir(&qr)?;
    for u in &users {
        let svg = totp::qr_svg(&u.enrolled.otpauth_uri)?;
        write_private(&qr.join(format!("{}.svg", u.username)), &svg)?;
    }
    store.close().await;
    let tmp = dir.join(format!("{DEFAULT_FILE}.tmp"));
    std::fs::write(&tmp, text).context("cannot write the demo config")?;
    std::fs::rename(&tmp, dir.join(DEFAULT_FILE)).context("cannot write the demo config")?;
    Ok(())
}

/// Writes the address the demo listens on and its public URL into the demo's config file
/// (its `[server]` section is the one `config_text` wrote), so the CLI run against that file
/// prints links that reach this demo.
fn record_address(file: &Path, listen: &str, public_url: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).context("cannot read the demo config")?;
    let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        if line.starts_with("public_url = ") {
            continue;
        }
        if line.starts_with("listen = ") {
            out.push_str(&format!(
                "listen = {}\npublic_url = {}\n",
                q(listen),
                q(public_url)
            ));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let tmp = file.with_extension("toml.tmp");
    std::fs::write(&tmp, out).context("cannot write the demo config")?;
    std::fs::rename(&tmp, file).context("cannot write the demo config")?;
    Ok(())
}

/// The `[smtp]` table for a mail server on loopback without TLS (the demo's `--smtp`).
fn smtp_text(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\n\
         from = \"Registervakt demo <registervakt@localhost>\"\ntls = \"none\"\n"
    )
}

/// The name of the checkpoint file the demo (and the tests) write beside the key file.
pub const CHECKPOINTS_FILE: &str = "audit-checkpoints.log";

/// The TOML of a SQLite-backed config over the synthetic register (the demo's, and the tests').
pub fn config_text(data: &Path, kek: &Path, register_url: &str) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let mut text = format!(
        "# Written by `registervakt demo`. Synthetic data only.\n\n\
         [server]\nlisten = \"127.0.0.1:8080\"\n\
         # Plain HTTP on loopback only; a real deployment keeps secure cookies on.\n\
         secure_cookies = false\n\n\
         [store]\ndata_dir = {}\n\n\
         [keys]\nkek_file = {}\n\n\
         [register]\nurl = {}\ntable = {}\n\n[register.columns]\n",
        q(&data.display().to_string()),
        q(&kek.display().to_string()),
        q(register_url),
        q(synthetic::DEMO_TABLE),
    );
    for (field, column) in synthetic::demo_columns() {
        text.push_str(&format!("{field} = {}\n", q(&column)));
    }
    // Beside the key file, outside the data dir: the audit log's second sink.
    let checkpoints = kek.with_file_name(CHECKPOINTS_FILE);
    text.push_str(&format!(
        "\n[audit]\ncheckpoint_file = {}\n",
        q(&checkpoints.display().to_string())
    ));
    text
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// The file the demo writes its users' credentials to (mode 0600, inside the demo dir).
pub const USERS_FILE: &str = "demo-users.txt";

/// The folder beside the users file with one QR code (SVG) per demo user.
pub const QR_DIR: &str = "demo-qr";

/// One user per role, staff and approvers in two districts, and two administrators: every
/// new account, role and policy change needs a second one (SECURITY_BAR C8).
const DEMO_USERS: &[(&str, &str, &str)] = &[
    ("anna", "Anna Lindqvist", "staff:Uppsala"),
    ("dora", "Dora Eklund", "staff:Uppsala"),
    ("bertil", "Bertil Holm", "approver:Uppsala"),
    ("cecilia", "Cecilia Nyberg", "staff:Skåne"),
    ("david", "David Ekström", "approver:Skåne"),
    ("elin", "Elin Sandberg", "admin:*"),
    ("gunnar", "Gunnar Sjöberg", "admin:*"),
    ("farid", "Farid Haddad", "auditor:*"),
];

/// A user created and enrolled through the same path a real user takes: invitation,
/// password, sign-in, enrolment confirmed with a code. (The code used is the previous step's,
/// so the current code works at once.) Used by the demo and by tests.
pub struct EnrolledUser {
    pub password: String,
    pub secret_base32: String,
    pub otpauth_uri: String,
    /// The ten recovery codes enrolment handed out (the demo does not write them anywhere;
    /// the tests look for them in everything the broker wrote).
    pub recovery_codes: Vec<String>,
}

pub async fn create_enrolled_user(
    store: &Store,
    keyring: &Keyring,
    config: &Config,
    username: &str,
    display_name: &str,
    roles: &[&str],
) -> anyhow::Result<EnrolledUser> {
    use secrecy::{ExposeSecret, SecretString};
    let client = signin::Client {
        ip: "set-up".into(),
    };
    let now = time::OffsetDateTime::now_utc();
    let new = accounts::NewUser {
        username: Username::parse(username)?,
        display_name: display_name.to_owned(),
        roles: roles
            .iter()
            .map(|r| r.parse::<RoleGrant>())
            .collect::<Result<_, _>>()?,
        email: None,
        oidc_provider: None,
    };
    let invitation = accounts::create_user(store, audit::Actor::cli(), new, 3600, now).await?;
    let random = crate::crypto::random_token();
    let password = SecretString::from(format!("demo-{}", random.get(..16).unwrap_or(&random)));
    accounts::accept_invitation(store, invitation.token.expose_secret(), &password, now).await?;
    // The account was just made, so the key is only there to satisfy the signature: a
    // refusal here would be audited under the account's own name.
    let pseudonyms = crate::app::load_pseudonym_key(store, keyring).await?;
    let started =
        signin::with_password(store, &pseudonyms, username, &password, &client, now).await?;
    let pending = session::authenticate(store, &started.token, &config.sessions, now).await?;
    let enrolment = signin::begin_enrolment(store, keyring, &pending, "Registervakt", now).await?;
    let seed = totp::Seed::from_base32(enrolment.secret_base32.expose_secret())?;
    let code = totp::Code::parse(&totp::code_at(
        &seed,
        totp::step_at(now.unix_timestamp()) - 1,
    ))?;
    let (full, recovery) =
        signin::confirm_enrolment(store, keyring, &pending, &code, &client, now).await?;
    let full = session::authenticate(store, &full.token, &config.sessions, now).await?;
    signin::sign_out(store, &full, &client, now).await?;
    Ok(EnrolledUser {
        password: password.expose_secret().to_owned(),
        secret_base32: enrolment.secret_base32.expose_secret().to_owned(),
        otpauth_uri: enrolment.otpauth_uri.expose_secret().to_owned(),
        recovery_codes: recovery.iter().map(|c| c.display().to_owned()).collect(),
    })
}

struct DemoUser {
    username: &'static str,
    role: &'static str,
    enrolled: EnrolledUser,
}

async fn create_demo_users(
    store: &Store,
    keyring: &Keyring,
    config: &Config,
) -> anyhow::Result<Vec<DemoUser>> {
    let mut out = Vec::new();
    for (username, name, role) in DEMO_USERS {
        let enrolled =
            create_enrolled_user(store, keyring, config, username, name, &[role]).await?;
        out.push(DemoUser {
            username,
            role,
            enrolled,
        });
    }
    Ok(out)
}

fn users_file(users: &[DemoUser]) -> String {
    let mut text = String::from(
        "# Registervakt demo users. Synthetic accounts for this demo only.\n\
         #\n\
         # Sign in at /login with a username and password, then a six-digit code from an\n\
         # authenticator app: add the account by scanning demo-qr/USERNAME.svg (open it in a\n\
         # browser) or typing the secret, or compute the code on the command line with\n\
         #     oathtool --totp -b SECRET\n\
         # Each code works once; wait for the next one to sign in again.\n\n",
    );
    for u in users {
        text.push_str(&format!(
            "username: {}\nrole:     {}\npassword: {}\nsecret:   {}\notpauth:  {}\n\n",
            u.username,
            u.role,
            u.enrolled.password,
            u.enrolled.secret_base32,
            u.enrolled.otpauth_uri
        ));
    }
    text
}

/// Writes `text` to `path` with mode 0600 (replacing what was there).
pub(super) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

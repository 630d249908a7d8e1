//! `registervakt user add|list|disable|enable|set-email|reset-2fa`: account administration from the
//! command line (audited as `cli:<os user>`).

use std::path::PathBuf;

use clap::Subcommand;
use time::OffsetDateTime;

use crate::admin::roles::{self, Change};
use crate::audit::Actor;
use crate::auth::accounts;
use crate::config::Config;
use crate::nouns::{RoleGrant, Username};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print a one-time invitation link.
    Add {
        #[arg(long)]
        username: String,
        /// The name shown to others, e.g. "Anna Berg".
        #[arg(long)]
        name: String,
        /// ROLE:DISTRICT, repeatable: staff:Uppsala, approver:Uppsala, admin:*, auditor:*.
        #[arg(long = "role", value_name = "ROLE:DISTRICT")]
        roles: Vec<String>,
        /// Sign in only through this identity provider (its id under [oidc] in the
        /// configuration): no password; the invitation is accepted by signing in there.
        #[arg(long = "sign-in-with", value_name = "PROVIDER")]
        sign_in_with: Option<String>,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// List users, their status and roles.
    List {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Disable a user; their sessions end at once.
    Disable {
        username: String,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Set the address a user's notices are e-mailed to (when `[smtp]` is configured).
    #[command(name = "set-email")]
    SetEmail {
        username: String,
        /// The address; leave out with --clear to stop e-mail.
        #[arg(long, required_unless_present = "clear")]
        email: Option<String>,
        #[arg(long, conflicts_with = "email")]
        clear: bool,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Re-enable a disabled user.
    Enable {
        username: String,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Give a user a role (ends their sessions so the change applies at once).
    Grant {
        username: String,
        #[arg(long, value_name = "ROLE:DISTRICT")]
        role: String,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Take a role from a user (ends their sessions at once).
    Revoke {
        username: String,
        #[arg(long, value_name = "ROLE:DISTRICT")]
        role: String,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Link an account at the identity provider (issuer + subject) to a user.
    #[command(name = "link-oidc")]
    LinkOidc {
        username: String,
        /// The issuer URL exactly as in the provider's ID tokens.
        #[arg(long)]
        issuer: String,
        /// The `sub` claim of the user at the provider (never the e-mail address).
        #[arg(long)]
        subject: String,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Remove a user's authenticator and recovery codes; they enrol again at next sign-in.
    #[command(name = "reset-2fa")]
    Reset2fa {
        username: String,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

pub async fn run(cmd: UserCommand) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    let config_path = match &cmd {
        UserCommand::Add { config, .. }
        | UserCommand::List { config }
        | UserCommand::Disable { config, .. }
        | UserCommand::Enable { config, .. }
        | UserCommand::SetEmail { config, .. }
        | UserCommand::Reset2fa { config, .. }
        | UserCommand::LinkOidc { config, .. }
        | UserCommand::Grant { config, .. }
        | UserCommand::Revoke { config, .. } => config.clone(),
    };
    let config = Config::load(config_path.as_deref())?;
    let store = crate::app::open_store(&config, false).await?;
    store.ensure_migrated().await?;
    let result = match cmd {
        UserCommand::Add {
            username,
            name,
            roles,
            sign_in_with,
            ..
        } => {
            if let Some(id) = &sign_in_with
                && !config.oidc.contains_key(id)
            {
                let known: Vec<&str> = config.oidc.keys().map(String::as_str).collect();
                anyhow::bail!(
                    "no identity provider `{id}` in the configuration (configured: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                );
            }
            let roles = roles
                .iter()
                .map(|r| r.parse::<RoleGrant>())
                .collect::<Result<Vec<_>, _>>()?;
            crate::admin::check_districts(&register_districts(&config, &roles).await?, &roles)?;
            let new = accounts::NewUser {
                username: Username::parse(&username)?,
                display_name: name,
                roles,
                email: None,
                oidc_provider: sign_in_with,
            };
            let ttl = config.sessions.invitation_ttl_secs;
            let invitation = accounts::create_user(&store, Actor::cli(), new, ttl, now).await?;
            println!(
                "created {username}; send them this one-time link (valid {} hours):",
                ttl / 3600
            );
            println!("{}", invitation.link(&config.server.public_url));
            Ok(())
        }
        UserCommand::List { .. } => {
            for (user, _) in accounts::list(&store).await? {
                // Each stored role, with its recertification standing when it is not simply
                // in force: `staff:Uppsala(due 2026-03-01)`, `staff:Uppsala(suspended 2026-02-01)`.
                let held =
                    crate::admin::recertify::own(&store, &user.id, &config.roles, now).await?;
                let roles: Vec<String> = held.iter().map(role_with_standing).collect();
                let factor = if user.totp_disabled {
                    "2fa-disabled"
                } else if user.totp_seed.is_some() {
                    "2fa"
                } else {
                    "no-2fa"
                };
                println!(
                    "{:<24} {:<9} {:<13} {:<28} {}",
                    user.username,
                    user.status,
                    factor,
                    user.display_name,
                    roles.join(" ")
                );
            }
            Ok(())
        }
        UserCommand::Disable { username, .. } => {
            accounts::set_enabled(&store, Actor::cli(), &username, false, now)
                .await
                .map(|()| println!("{username} is disabled; their sessions have ended"))
        }
        UserCommand::Enable { username, .. } => {
            accounts::set_enabled(&store, Actor::cli(), &username, true, now)
                .await
                .map(|()| println!("{username} is enabled"))
        }
        UserCommand::SetEmail {
            username, email, ..
        } => accounts::set_email(&store, Actor::cli(), &username, email.as_deref(), now)
            .await
            .map(|()| match &email {
                Some(_) => println!("{username}'s notices will also be e-mailed"),
                None => println!("{username}'s notices are no longer e-mailed"),
            }),
        UserCommand::Grant { username, role, .. } => {
            let grant: RoleGrant = role.parse()?;
            let districts = register_districts(&config, std::slice::from_ref(&grant)).await?;
            change(&store, &districts, &username, grant, Change::Grant, now).await
        }
        UserCommand::Revoke { username, role, .. } => {
            let grant: RoleGrant = role.parse()?;
            let districts = crate::register::Districts::default();
            change(&store, &districts, &username, grant, Change::Revoke, now).await
        }
        UserCommand::LinkOidc {
            username,
            issuer,
            subject,
            ..
        } => crate::auth::oidc_login::link(&store, Actor::cli(), &username, &issuer, &subject, now)
            .await
            .map(|()| println!("{username} can now sign in through {issuer}")),
        UserCommand::Reset2fa { username, .. } => {
            accounts::reset_second_factor(&store, Actor::cli(), &username, now)
                .await
                .map(|()| {
                    println!("{username} must set up an authenticator app at their next sign-in")
                })
        }
    };
    store.close().await;
    Ok(result?)
}

/// The register's districts when one of `roles` is in a district (else none are read, so a
/// party-wide role can be given while the register is down).
async fn register_districts(
    config: &Config,
    roles: &[RoleGrant],
) -> anyhow::Result<crate::register::Districts> {
    if roles
        .iter()
        .all(|r| matches!(r.scope, crate::nouns::Scope::Party))
    {
        return Ok(crate::register::Districts::default());
    }
    let register = crate::register::Register::open(&config.register).await?;
    Ok(register.districts().await?)
}

async fn change(
    store: &crate::store::Store,
    districts: &crate::register::Districts,
    username: &str,
    grant: RoleGrant,
    change: Change,
    now: OffsetDateTime,
) -> Result<(), crate::auth::Error> {
    let shown = grant.to_string();
    roles::change_role_as_operator(store, districts, username, grant, change, now)
        .await
        .map_err(|e| match e {
            crate::admin::Error::Auth(e) => e,
            crate::admin::Error::Store(e) => crate::auth::Error::Store(e),
            crate::admin::Error::Audit(e) => crate::auth::Error::Audit(e),
            crate::admin::Error::UnknownDistrict(d) => crate::auth::Error::BadInput(format!(
                "there is no district {d} in the member register; check the spelling"
            )),
            other => crate::auth::Error::Internal(other.to_string()),
        })?;
    let verb = if change == Change::Grant {
        "now has"
    } else {
        "no longer has"
    };
    println!("{username} {verb} {shown}; their sessions have ended");
    Ok(())
}

/// A role as `user list` prints it: `ROLE:DISTRICT`, with `(due DATE)` when due within the
/// advance notice and `(suspended DATE)` past its due date (dates in UTC).
fn role_with_standing(h: &crate::admin::recertify::Holding) -> String {
    use crate::admin::recertify::Standing;
    let date = h.due_at.date();
    match h.standing {
        Standing::InForce => h.grant.to_string(),
        Standing::DueSoon => format!("{}(due {date})", h.grant),
        Standing::Suspended => format!("{}(suspended {date})", h.grant),
    }
}

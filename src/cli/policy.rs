//! `registervakt policy check|show|export|import|diff|explain`: read, change and test the
//! access policy.

mod diff;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use time::OffsetDateTime;

use crate::config::Config;
use crate::nouns::RoleGrant;
use crate::nouns::{DistrictCode, Field};
use crate::policy::{self, ExtractRequest, Policy, Principal, PurposeId};
use diff::Candidate;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate model.conf, policy.csv and purposes.toml; names the file and line of a problem.
    Check {
        #[arg(long, default_value = "policies", value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print the role→permission table and the purpose catalogue.
    Show {
        #[arg(long, default_value = "policies", value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write the policy in force (model.conf, policy.csv, purposes.toml) to a directory.
    Export {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Validate a directory's purposes.toml and policy.csv and store them as the next version
    /// (in force at the next request on every broker; audited).
    Import {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Why the policy changes.
        #[arg(long)]
        comment: String,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Try a policy change against the extract requests of the last DAYS days: which would now
    /// be denied, allowed, or need more or fewer approvers. The candidate is the given files,
    /// else the one pending proposal, else the files in `[policy] dir`.
    Diff {
        /// How many days of requests to decide again.
        #[arg(long, value_name = "DAYS")]
        against_history: u32,
        /// A candidate purposes.toml (the one in force when not given).
        #[arg(long, value_name = "FILE")]
        purposes: Option<PathBuf>,
        /// A candidate policy.csv (the one in force when not given).
        #[arg(long, value_name = "FILE")]
        permissions: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// What the policy decides for a user's request, and every rule that made it.
    Explain {
        #[arg(long)]
        user: String,
        #[arg(long)]
        purpose: String,
        #[arg(long)]
        district: String,
        /// Comma-separated field names, e.g. first_name,last_name,email.
        #[arg(long, value_delimiter = ',')]
        fields: Vec<String>,
        #[arg(long, default_value_t = 60)]
        lifetime: u32,
        /// The number of members the request would hold.
        #[arg(long, default_value_t = 100)]
        rows: u64,
        /// The broker's config (for the user's roles and the policy dir).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

pub async fn run(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Check { dir } | PolicyCommand::Show { dir } => check(&dir).await,
        PolicyCommand::Export { out, config } => {
            export(&Config::load(config.as_deref())?, &out).await
        }
        PolicyCommand::Import {
            dir,
            comment,
            config,
        } => import(&Config::load(config.as_deref())?, &dir, &comment).await,
        PolicyCommand::Diff {
            against_history,
            purposes,
            permissions,
            config,
        } => {
            let config = Config::load(config.as_deref())?;
            let files = Candidate {
                purposes,
                permissions,
            };
            diff::run(&config, against_history, files).await
        }
        PolicyCommand::Explain {
            user,
            purpose,
            district,
            fields,
            lifetime,
            rows,
            config,
        } => {
            let config = Config::load(config.as_deref())?;
            let request = ExtractRequest {
                purpose: PurposeId::parse(&purpose)?,
                district: DistrictCode::parse(&district)?,
                fields: fields
                    .iter()
                    .map(|f| f.parse::<Field>())
                    .collect::<Result<_, _>>()?,
                lifetime_minutes: lifetime,
                estimated_rows: rows,
            };
            explain(&config, &user, &request).await
        }
    }
}

async fn check(dir: &Path) -> anyhow::Result<()> {
    let report = policy::check_dir(dir).await?;
    println!("{report}");
    println!("policy in {} is valid", dir.display());
    Ok(())
}

async fn explain(config: &Config, username: &str, request: &ExtractRequest) -> anyhow::Result<()> {
    let store = crate::app::open_store(config, false).await?;
    let user = store
        .find_user_by_username(&username.to_lowercase())
        .await?
        .with_context(|| format!("no user named {username}"))?;
    let principal = Principal::load(&store, &user.id).await?;
    let roles: Vec<RoleGrant> = principal.roles().to_vec();
    let source =
        crate::policy::source::Source::new(crate::app::base_policy_texts(config).await).await;
    let current = source.current(&store).await?;
    store.close().await;
    let policy: Policy = current.policy;
    if let Some(v) = current.version {
        println!("policy version {v} (stored in the broker)");
    }
    if !policy.is_usable() {
        bail!(
            "the policy cannot be used, so every request is denied; run `registervakt policy check`"
        );
    }
    let explanation = policy
        .explain(&principal, request, OffsetDateTime::now_utc())
        .await;
    let shown: Vec<String> = roles.iter().map(ToString::to_string).collect();
    println!(
        "{username} holds: {}",
        if shown.is_empty() {
            "no roles".into()
        } else {
            shown.join(", ")
        }
    );
    println!("{explanation}");
    Ok(())
}

async fn source_and_store(
    config: &Config,
) -> anyhow::Result<(policy::source::Source, crate::store::Store)> {
    let store = crate::app::open_store(config, false).await?;
    store.ensure_migrated().await?;
    let source = policy::source::Source::new(crate::app::base_policy_texts(config).await).await;
    Ok((source, store))
}

async fn export(config: &Config, out: &Path) -> anyhow::Result<()> {
    let (source, store) = source_and_store(config).await?;
    let current = source.current(&store).await?;
    store.close().await;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (name, text) in [
        (policy::MODEL_FILE, &current.texts.model),
        (policy::PERMISSIONS_FILE, &current.texts.permissions),
        (policy::PURPOSES_FILE, &current.texts.purposes),
    ] {
        std::fs::write(out.join(name), text).with_context(|| format!("cannot write {name}"))?;
    }
    let version = current
        .version
        .map_or("the base policy".to_owned(), |v| format!("version {v}"));
    println!("wrote {version} to {}", out.display());
    Ok(())
}

async fn import(config: &Config, dir: &Path, comment: &str) -> anyhow::Result<()> {
    let texts = policy::Texts::read(dir).await?;
    let (source, store) = source_and_store(config).await?;
    let result = source
        .change(
            &store,
            crate::audit::Actor::cli(),
            Some(texts.purposes),
            Some(texts.permissions),
            comment,
            OffsetDateTime::now_utc(),
        )
        .await;
    store.close().await;
    let version = result?;
    println!("stored policy version {version}; every broker enforces it from its next request");
    Ok(())
}

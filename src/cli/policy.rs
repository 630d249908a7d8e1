//! `registervakt policy check|show|explain`: read and test the access policy.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use time::OffsetDateTime;

use crate::auth::RoleGrant;
use crate::config::Config;
use crate::policy::{self, ExtractRequest, Policy, Principal, PurposeId};
use crate::register::{DistrictCode, Field};

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
    let roles: Vec<RoleGrant> = store
        .list_roles(&user.id)
        .await?
        .iter()
        .filter_map(|r| format!("{}:{}", r.role, r.district).parse().ok())
        .collect();
    store.close().await;
    let policy: Policy = crate::app::load_policy(config).await;
    if !policy.is_usable() {
        bail!(
            "the policy cannot be used, so every request is denied; run `registervakt policy check`"
        );
    }
    let principal = Principal {
        user_id: user.id,
        roles: roles.clone(),
    };
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

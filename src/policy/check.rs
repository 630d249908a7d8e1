//! `registervakt policy check`: load a policy directory exactly as the server would and
//! either name the first broken line or print what the policy says.
//!
//! Guarantees: the check and the server use the same loader ([`Policy::from_parts`]), so a
//! directory that passes here loads there. An error names the file (with its directory), the
//! line when there is one, and the problem in a sentence. Never writes to the directory.

use std::fmt;
use std::path::Path;

use super::{Action, Error, Permission, Policy, Purpose, read_files};
use crate::nouns::Role;

/// What a valid policy directory says, for people to read.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub purposes: Vec<Purpose>,
    pub permissions: Vec<Permission>,
}

/// Validates `model.conf`, `policy.csv` and `purposes.toml` in `dir`.
pub async fn check_dir(dir: &Path) -> Result<CheckReport, Error> {
    let in_dir = |e: Error| match e {
        Error::Invalid {
            file,
            line,
            message,
            problem,
        } => Error::Invalid {
            file: dir.join(file).display().to_string(),
            line,
            message,
            problem,
        },
        other => other,
    };
    let (model, permissions, purposes) = read_files(dir).await?;
    let policy = Policy::from_parts(&model, &permissions, &purposes)
        .await
        .map_err(in_dir)?;
    Ok(CheckReport {
        purposes: policy.purposes().to_vec(),
        permissions: policy.permissions().to_vec(),
    })
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "The policy is valid.")?;
        writeln!(f)?;
        writeln!(
            f,
            "Roles and what they may do (in their districts; `*` = everywhere):"
        )?;
        for role in Role::ALL {
            let actions: Vec<&str> = Action::ALL
                .into_iter()
                .filter(|a| {
                    self.permissions
                        .iter()
                        .any(|p| p.role == role && p.action == *a)
                })
                .map(Action::as_str)
                .collect();
            let list = if actions.is_empty() {
                "nothing".to_owned()
            } else {
                actions.join(", ")
            };
            writeln!(f, "  {:<9} {list}", role.as_str())?;
        }
        writeln!(f)?;
        writeln!(f, "Purposes ({}):", self.purposes.len())?;
        for p in &self.purposes {
            write_purpose(f, p)?;
        }
        Ok(())
    }
}

fn write_purpose(f: &mut fmt::Formatter<'_>, p: &Purpose) -> fmt::Result {
    let names = |items: Vec<&str>| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    let a = p.approval;
    writeln!(f, "  {} — {} / {}", p.id, p.name_sv, p.name_en)?;
    writeln!(
        f,
        "    fields: {}",
        names(p.allowed_fields.iter().map(|x| x.as_str()).collect())
    )?;
    writeln!(
        f,
        "    required consents: {}",
        names(
            p.required_consents
                .iter()
                .map(|c| c.field().as_str())
                .collect()
        )
    )?;
    writeln!(
        f,
        "    at most {} rows, {} minutes; formats: {}",
        p.max_rows,
        p.max_lifetime_minutes,
        names(p.formats.iter().map(|x| x.as_str()).collect())
    )?;
    let auto = if a.auto_max_rows == 0 {
        "never without approval".to_owned()
    } else {
        format!("without approval up to {} rows", a.auto_max_rows)
    };
    writeln!(
        f,
        "    approval: {auto}; two approvers from {} rows; {} for sensitive fields",
        a.two_approvers_min_rows, a.sensitive_approvers
    )?;
    if p.valid_from.is_some() || p.valid_to.is_some() {
        let day = |d: Option<time::Date>| d.map_or("open".to_owned(), |d| d.to_string());
        writeln!(f, "    valid {} to {}", day(p.valid_from), day(p.valid_to))?;
    }
    Ok(())
}

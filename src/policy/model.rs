//! The casbin wrapper and the role → permission table — the only code in the crate that
//! talks to casbin.
//!
//! Guarantees:
//! - The permission table holds only `p, ROLE, OBJECT, VERB` lines with known roles and
//!   actions; anything else is an error naming the line.
//! - A model is accepted only after a self-test: for every role, action and scope (own
//!   district, another district, party-wide) casbin must answer exactly what the table says.
//!   A matcher that over-grants (`m = true`, a glob) or that fails to evaluate (an undefined
//!   function) is rejected at load instead of surprising anyone later.
//! - A question casbin has not answered yet builds a fresh enforcer from the parsed model,
//!   the table and the principal's roles for this request. Its answer is then remembered by
//!   everything casbin was given — the user, the roles, the district and the action — and
//!   given again for the same question only. The roles are the ones read for this request,
//!   so a role taken away stops counting at the next request (C7). A new policy version is a
//!   new engine, which remembers nothing. No lock is held while casbin works.
//!
//! Must never: give a user a casbin name that can equal a role name (users are `user:<id>`,
//! since casbin's `g` treats equal names as linked), or turn a casbin error into an allow.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};

use super::{Action, Error, PERMISSIONS_FILE};
use crate::nouns::{Role, RoleGrant, Scope};

/// The casbin domain that stands for the whole party.
pub const PARTY_WIDE: &str = "*";
/// Prefix of users' casbin names; roles are bare words, so the two can never coincide.
const USER_PREFIX: &str = "user:";

/// One line of the permission table: `role` may do `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub role: Role,
    pub action: Action,
    /// 1-based line in `policy.csv`.
    pub line: usize,
}

/// The parsed `policy.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionTable {
    entries: Vec<Permission>,
}

impl PermissionTable {
    /// Parses the table: `#` comments and blank lines are skipped; every other line must be
    /// `p, ROLE, OBJECT, VERB`. Grouping (`g`) lines are refused: roles come from the user
    /// store only, so there is one place to look for who holds what.
    pub fn parse(text: &str) -> Result<PermissionTable, Error> {
        let mut entries: Vec<Permission> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let permission = parse_line(content, line)?;
            if let Some(first) = entries
                .iter()
                .find(|p| p.role == permission.role && p.action == permission.action)
            {
                return Err(invalid(
                    line,
                    format!(
                        "repeats the permission on line {} ({} may {})",
                        first.line,
                        permission.role.as_str(),
                        permission.action
                    ),
                ));
            }
            entries.push(permission);
        }
        Ok(PermissionTable { entries })
    }

    pub fn entries(&self) -> &[Permission] {
        &self.entries
    }

    /// Whether the table gives `role` the permission `action`.
    pub fn allows(&self, role: Role, action: Action) -> bool {
        self.entries
            .iter()
            .any(|p| p.role == role && p.action == action)
    }

    fn casbin_rules(&self) -> Vec<Vec<String>> {
        self.entries
            .iter()
            .map(|p| {
                vec![
                    p.role.as_str().to_owned(),
                    p.action.object().to_owned(),
                    p.action.verb().to_owned(),
                ]
            })
            .collect()
    }
}

fn parse_line(content: &str, line: usize) -> Result<Permission, Error> {
    let columns: Vec<&str> = content.split(',').map(str::trim).collect();
    if columns.first() == Some(&"g") {
        return Err(invalid(
            line,
            "grouping (g) lines are not allowed here: roles are given to users in the user store"
                .to_owned(),
        ));
    }
    let [kind, role, object, verb] = columns.as_slice() else {
        return Err(invalid(
            line,
            format!(
                "has {} columns; write `p, ROLE, OBJECT, VERB`, e.g. `p, staff, extract, request`",
                columns.len()
            ),
        ));
    };
    if *kind != "p" {
        return Err(invalid(
            line,
            format!("starts with {kind:?}; every rule starts with `p`"),
        ));
    }
    let role: Role = role.parse().map_err(|_| {
        invalid(
            line,
            format!("unknown role {role:?}; use staff, approver, admin or auditor"),
        )
    })?;
    let action = Action::from_parts(object, verb).ok_or_else(|| {
        let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        invalid(
            line,
            format!(
                "unknown permission `{object}.{verb}`; known: {}",
                known.join(", ")
            ),
        )
    })?;
    Ok(Permission { role, action, line })
}

fn invalid(line: usize, message: String) -> Error {
    Error::Invalid {
        file: PERMISSIONS_FILE.to_owned(),
        line: Some(line),
        message,
        problem: None,
    }
}

/// The parsed casbin model plus the table's rules, ready to answer questions.
#[derive(Clone)]
pub struct Engine {
    model: DefaultModel,
    rules: Vec<Vec<String>>,
    /// casbin's answers so far, shared by the clones of this engine (see the module header).
    answers: Arc<Mutex<HashMap<Question, bool>>>,
}

/// What casbin is given besides the model and the table: the user, the roles held (in order,
/// each once), the domain asked about and the action. The user is part of it although the
/// shipped model never looks at who asks: a model that did would still be answered exactly.
#[derive(PartialEq, Eq, Hash)]
struct Question {
    user_id: String,
    roles: Vec<RoleGrant>,
    domain: String,
    action: Action,
}

/// Most answers an engine remembers; past that it forgets them all and starts again. The
/// questions a broker is asked within a policy version are those of its active users in the
/// districts they work in, so this is rarely reached.
const ANSWERS_KEPT: usize = 4096;

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Parses the model and runs the self-test described in the module header.
    pub async fn build(model_text: &str, table: &PermissionTable) -> Result<Engine, Error> {
        let engine = Engine::unverified(model_text, table).await?;
        engine.self_test(table).await?;
        Ok(engine)
    }

    /// Parses the model without the self-test (tests use it to reach casbin's runtime errors).
    pub(super) async fn unverified(
        model_text: &str,
        table: &PermissionTable,
    ) -> Result<Engine, Error> {
        let model = DefaultModel::from_str(model_text)
            .await
            .map_err(|e| model_error(format!("casbin cannot parse the model: {e}")))?;
        Ok(Engine {
            model,
            rules: table.casbin_rules(),
            answers: Arc::default(),
        })
    }

    /// Does a principal holding `roles` have `action` in `domain` (a district code, or
    /// [`PARTY_WIDE`] to ask for the whole party)?
    pub async fn allows(
        &self,
        user_id: &str,
        roles: &[RoleGrant],
        domain: &str,
        action: Action,
    ) -> Result<bool, Error> {
        let mut held = roles.to_vec();
        held.sort();
        held.dedup();
        let question = Question {
            user_id: user_id.to_owned(),
            roles: held,
            domain: domain.to_owned(),
            action,
        };
        if let Some(answer) = self.remembered(&question) {
            return Ok(answer);
        }
        let answer = self.ask_casbin(user_id, roles, domain, action).await?;
        if let Ok(mut answers) = self.answers.lock() {
            if answers.len() >= ANSWERS_KEPT {
                answers.clear();
            }
            answers.insert(question, answer);
        }
        Ok(answer)
    }

    fn remembered(&self, question: &Question) -> Option<bool> {
        self.answers.lock().ok()?.get(question).copied()
    }

    /// casbin's answer, from an enforcer built for this question alone.
    async fn ask_casbin(
        &self,
        user_id: &str,
        roles: &[RoleGrant],
        domain: &str,
        action: Action,
    ) -> Result<bool, Error> {
        let subject = format!("{USER_PREFIX}{user_id}");
        let links: BTreeSet<Vec<String>> = roles
            .iter()
            .map(|g| {
                vec![
                    subject.clone(),
                    g.role.as_str().to_owned(),
                    g.scope.as_str().to_owned(),
                ]
            })
            .collect();
        let engine_error = |e: casbin::Error| Error::Engine(e.to_string());
        let mut enforcer = Enforcer::new(self.model.clone(), MemoryAdapter::default())
            .await
            .map_err(engine_error)?;
        if !self.rules.is_empty() {
            enforcer
                .add_policies(self.rules.clone())
                .await
                .map_err(engine_error)?;
        }
        if !links.is_empty() {
            enforcer
                .add_grouping_policies(links.into_iter().collect())
                .await
                .map_err(engine_error)?;
        }
        enforcer
            .enforce((subject.as_str(), domain, action.object(), action.verb()))
            .map_err(engine_error)
    }

    /// Every role × action × scope must get from casbin exactly the table's answer: allowed
    /// in the role's own district and, for a party-wide role, everywhere; never elsewhere.
    async fn self_test(&self, table: &PermissionTable) -> Result<(), Error> {
        let home = probe_district("Probe-Home")?;
        let away = probe_district("Probe-Away")?;
        for role in Role::ALL {
            for action in Action::ALL {
                let granted = table.allows(role, action);
                let cases = [
                    (Scope::District(home.clone()), home.as_str(), granted),
                    (Scope::District(home.clone()), away.as_str(), false),
                    (Scope::District(home.clone()), PARTY_WIDE, false),
                    (Scope::Party, away.as_str(), granted),
                    (Scope::Party, PARTY_WIDE, granted),
                ];
                for (scope, domain, expected) in cases {
                    let roles = [RoleGrant { role, scope }];
                    let got = self.ask_casbin("probe", &roles, domain, action).await?;
                    if got != expected {
                        return Err(model_error(format!(
                            "the model answers {got} for role {} doing {action} in {domain} \
                             (role held in {}), but the permission table says {expected}",
                            role.as_str(),
                            roles[0].scope.as_str()
                        )));
                    }
                }
                if self.ask_casbin("probe", &[], home.as_str(), action).await? {
                    return Err(model_error(format!(
                        "the model allows {action} to someone with no role; it must deny by default"
                    )));
                }
            }
        }
        Ok(())
    }
}

fn probe_district(code: &str) -> Result<crate::nouns::DistrictCode, Error> {
    crate::nouns::DistrictCode::parse(code).map_err(|e| Error::Engine(e.to_string()))
}

fn model_error(message: String) -> Error {
    Error::Invalid {
        file: super::MODEL_FILE.to_owned(),
        line: None,
        message,
        problem: None,
    }
}

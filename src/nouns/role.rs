//! Roles and where they apply: `staff`, `approver`, `admin`, `auditor`, each in one district or
//! for the whole party (`*`). What a role may do is the policy's; this is only the vocabulary.

use std::fmt;
use std::str::FromStr;

use super::{DistrictCode, Error};

/// The four roles of the brief. The policy (issue 4) decides what each may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Staff,
    Approver,
    Admin,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Staff, Role::Approver, Role::Admin, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Approver => "approver",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Role, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::BadInput(format!(
                    "unknown role {s:?}; use staff, approver, admin or auditor"
                ))
            })
    }
}

/// Where a role applies: one district, or the whole party (`*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Party,
    District(DistrictCode),
}

impl Scope {
    pub fn parse(s: &str) -> Result<Scope, Error> {
        if s == "*" {
            return Ok(Scope::Party);
        }
        DistrictCode::parse(s).map(Scope::District).map_err(|_| {
            Error::BadInput(
                "a district is letters, digits, spaces, '-' or '_' (or * for the whole party)"
                    .into(),
            )
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Scope::Party => "*",
            Scope::District(d) => d.as_str(),
        }
    }
}

/// A role in a scope, e.g. `approver:Uppsala` or `auditor:*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleGrant {
    pub role: Role,
    pub scope: Scope,
}

impl FromStr for RoleGrant {
    type Err = Error;
    fn from_str(s: &str) -> Result<RoleGrant, Error> {
        let (role, scope) = s.split_once(':').ok_or_else(|| {
            Error::BadInput(format!(
                "write a role as ROLE:DISTRICT (e.g. staff:Uppsala), not {s:?}"
            ))
        })?;
        Ok(RoleGrant {
            role: role.parse()?,
            scope: Scope::parse(scope)?,
        })
    }
}

impl fmt::Display for RoleGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.role.as_str(), self.scope.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_grants_parse_and_print() {
        let g: RoleGrant = "approver:Uppsala".parse().unwrap();
        assert_eq!(g.to_string(), "approver:Uppsala");
        let g: RoleGrant = "auditor:*".parse().unwrap();
        assert_eq!(g.scope, Scope::Party);
        assert!("boss:Uppsala".parse::<RoleGrant>().is_err());
        assert!("staff".parse::<RoleGrant>().is_err());
    }
}

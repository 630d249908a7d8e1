//! Which actions need a phishing-resistant second factor (a passkey), from the `[second_factor]`
//! table and each purpose's `phishing_resistant` key in `purposes.toml` (SECURITY_BAR A9,
//! NIST SP 800-63B-4 §3.2.5).
//!
//! Guarantees: a role name that is not a role is an error naming the line, never ignored; a
//! broken policy asks for the strongest factor ([`super::Policy::needs_phishing_resistant`]).
//! Must never: let a handler compare role strings to decide this.

use std::collections::BTreeSet;

use super::{Error, PURPOSES_FILE, PurposeId, purposes};
use crate::nouns::{Role, Scope};

/// The rule as loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactorRule {
    /// Holders of these roles (in any district) need a passkey for their privileged actions.
    pub roles: BTreeSet<Role>,
    /// Holders of any role held party-wide (`*`) need one too.
    pub party_wide: bool,
    /// These purposes need one, whoever acts on an extract of them.
    pub purposes: BTreeSet<PurposeId>,
}

/// Reads the rule from the catalogue's text (already parsed once by `parse_catalogue`).
pub fn parse(text: &str) -> Result<FactorRule, Error> {
    let raw: purposes::raw::Catalogue = toml::from_str(text).map_err(|e| Error::Invalid {
        file: PURPOSES_FILE.to_owned(),
        line: None,
        message: e.message().trim().to_owned(),
        problem: None,
    })?;
    let mut rule = FactorRule::default();
    if let Some(table) = raw.second_factor {
        for name in &table.phishing_resistant_roles {
            let role: Role = name.parse().map_err(|_| Error::Invalid {
                file: PURPOSES_FILE.to_owned(),
                line: line_of(text, "phishing_resistant_roles"),
                message: format!(
                    "[second_factor] phishing_resistant_roles: unknown role {name:?}; use staff, approver, admin or auditor"
                ),
                problem: None,
            })?;
            rule.roles.insert(role);
        }
        rule.party_wide = table.phishing_resistant_party_wide;
    }
    for p in raw.purpose.iter().filter(|p| p.phishing_resistant) {
        if let Ok(id) = PurposeId::parse(&p.id) {
            rule.purposes.insert(id);
        }
    }
    Ok(rule)
}

fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.trim_start().starts_with(key))
        .map(|i| i + 1)
}

impl FactorRule {
    /// Whether a user with `roles`, acting on an extract of `purpose` (if any), needs a
    /// phishing-resistant factor.
    pub fn applies(&self, roles: &[crate::nouns::RoleGrant], purpose: Option<&PurposeId>) -> bool {
        let by_role = roles
            .iter()
            .any(|g| self.roles.contains(&g.role) || (self.party_wide && g.scope == Scope::Party));
        by_role || purpose.is_some_and(|p| self.purposes.contains(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nouns::RoleGrant;

    fn grants(list: &[&str]) -> Vec<RoleGrant> {
        list.iter().filter_map(|s| s.parse().ok()).collect()
    }

    const SHIPPED: &str = include_str!("../../policies/purposes.toml");

    fn with_rule(roles: &str, party_wide: bool) -> String {
        SHIPPED
            .replacen(
                "phishing_resistant_roles = []",
                &format!("phishing_resistant_roles = {roles}"),
                1,
            )
            .replacen(
                "phishing_resistant_party_wide = false",
                &format!("phishing_resistant_party_wide = {party_wide}"),
                1,
            )
    }

    #[test]
    fn the_shipped_catalogue_asks_no_role_for_a_passkey_until_the_party_says_so() {
        let rule = parse(SHIPPED).unwrap_or_default();
        assert!(!rule.applies(&grants(&["approver:Uppsala", "admin:*"]), None));
    }

    #[test]
    fn named_roles_party_wide_roles_and_named_purposes_need_a_passkey() {
        let rule = parse(&with_rule("[\"approver\"]", true)).unwrap_or_default();
        assert!(rule.applies(&grants(&["approver:Uppsala"]), None));
        assert!(rule.applies(&grants(&["auditor:*"]), None));
        assert!(!rule.applies(&grants(&["staff:Uppsala"]), None));
        let text = SHIPPED.replacen(
            "id = \"phone-canvassing\"",
            "id = \"phone-canvassing\"\nphishing_resistant = true",
            1,
        );
        let rule = parse(&text).unwrap_or_default();
        let purpose = PurposeId::parse("phone-canvassing").ok();
        assert!(rule.applies(&grants(&["staff:Uppsala"]), purpose.as_ref()));
        assert!(!rule.applies(&grants(&["staff:Uppsala"]), None));
    }

    #[test]
    fn an_unknown_role_in_the_rule_is_refused_with_its_line() {
        let text = with_rule("[\"boss\"]", false);
        let line = text
            .lines()
            .position(|l| l.starts_with("phishing_resistant_roles"))
            .map_or(0, |i| i + 1);
        let err = parse(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("boss") && err.contains(&format!("line {line}")),
            "{err}"
        );
    }
}

//! The column mapping: which register column holds which [`Field`].
//!
//! Guarantees: a [`Mapping`] only exists when every configured key is a known field,
//! `member_id`, `district` and `protected_identity` are mapped, and the table and every
//! column are plain identifiers (`[A-Za-z_][A-Za-z0-9_]{0,62}`, the table optionally
//! `schema.table`). Because of that the store may quote and interpolate them; they come
//! from the operator's config, never from a user. This module must never accept an
//! identifier containing quotes, spaces or dots beyond the one schema separator.

use crate::nouns::Field;
use std::collections::BTreeMap;

use super::Error;
use crate::config::RegisterConfig;

/// Fields without which the broker refuses to start, and why.
const MANDATORY: [(Field, &str); 3] = [
    (
        Field::MemberId,
        "without it members cannot be told apart, ordered or recorded in the disclosure ledger",
    ),
    (
        Field::District,
        "without it extracts cannot be limited to the requester's district",
    ),
    (
        Field::ProtectedIdentity,
        "without it members with protected identity cannot be excluded",
    ),
];

/// The validated mapping from fields to register columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    table: String,
    columns: BTreeMap<Field, String>,
    // The mandatory columns, copied out so reading them needs no fallible lookup.
    member_id: String,
    district: String,
    protected_identity: String,
}

impl Mapping {
    /// Validates the `[register]` section's table and columns (no database access).
    pub fn from_config(cfg: &RegisterConfig) -> Result<Mapping, Error> {
        check_table_name(&cfg.table)?;
        let mut columns = BTreeMap::new();
        for (key, column) in &cfg.columns {
            let field: Field = key.parse().map_err(|_| Error::UnknownFieldInConfig {
                key: key.clone(),
                known: Field::known_names(),
            })?;
            if !is_identifier(column) {
                return Err(Error::BadIdentifier {
                    key: format!("register.columns.{key}"),
                });
            }
            columns.insert(field, column.clone());
        }
        let mandatory = |field: Field| -> Result<String, Error> {
            columns.get(&field).cloned().ok_or_else(|| {
                let why = MANDATORY
                    .iter()
                    .find(|(f, _)| *f == field)
                    .map_or("", |(_, why)| why);
                Error::MandatoryFieldUnmapped { field, why }
            })
        };
        let member_id = mandatory(Field::MemberId)?;
        let district = mandatory(Field::District)?;
        let protected_identity = mandatory(Field::ProtectedIdentity)?;
        Ok(Mapping {
            table: cfg.table.clone(),
            columns,
            member_id,
            district,
            protected_identity,
        })
    }

    /// The table or view (`table` or `schema.table`), a validated identifier.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The column for `field`, if mapped.
    pub fn column(&self, field: Field) -> Option<&str> {
        self.columns.get(&field).map(String::as_str)
    }

    /// The column for `field`, or an error naming the field when it is not mapped.
    pub fn require(&self, field: Field) -> Result<&str, Error> {
        self.column(field).ok_or(Error::FieldUnmapped { field })
    }

    /// Mapped fields and their columns, in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> {
        self.columns.iter().map(|(f, c)| (*f, c.as_str()))
    }

    /// The column of `member_id` (always mapped).
    pub fn member_id_column(&self) -> &str {
        &self.member_id
    }

    /// The column of `district` (always mapped).
    pub fn district_column(&self) -> &str {
        &self.district
    }

    /// The column of `protected_identity` (always mapped).
    pub fn protected_identity_column(&self) -> &str {
        &self.protected_identity
    }
}

pub use crate::store::register::is_identifier;

/// `true` when `s` is an identifier or `schema.table` of two identifiers.
pub fn is_table_name(s: &str) -> bool {
    match s.split_once('.') {
        Some((schema, table)) => is_identifier(schema) && is_identifier(table),
        None => is_identifier(s),
    }
}

fn check_table_name(table: &str) -> Result<(), Error> {
    if is_table_name(table) {
        Ok(())
    } else {
        Err(Error::BadIdentifier {
            key: "register.table".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn cfg(table: &str, columns: &[(&str, &str)]) -> RegisterConfig {
        RegisterConfig {
            url: SecretString::from("sqlite:/nonexistent"),
            table: table.to_owned(),
            columns: columns
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            connect_timeout_secs: 5,
            max_connections: 1,
            statuses: Default::default(),
            limits: Default::default(),
        }
    }

    const MINIMAL: [(&str, &str); 3] = [
        ("member_id", "medlemsnr"),
        ("district", "distrikt"),
        ("protected_identity", "skyddad"),
    ];

    #[test]
    fn a_minimal_mapping_is_accepted() {
        let m = Mapping::from_config(&cfg("public.medlemmar", &MINIMAL)).unwrap();
        assert_eq!(m.column(Field::District), Some("distrikt"));
        assert_eq!(m.column(Field::Email), None);
        assert_eq!(m.table(), "public.medlemmar");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_config_path() {
        let mut cols = MINIMAL.to_vec();
        cols.push(("telefon", "tel"));
        let msg = Mapping::from_config(&cfg("t", &cols))
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("register.columns.telefon is not a known field (known: member_id"),
            "{msg}"
        );
    }

    #[test]
    fn a_missing_protected_identity_mapping_refuses_with_the_reason() {
        let msg = Mapping::from_config(&cfg("t", &MINIMAL[..2]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("register.columns.protected_identity is missing")
                && msg.contains("cannot be excluded"),
            "{msg}"
        );
    }

    #[test]
    fn identifiers_with_quotes_spaces_or_extra_dots_are_refused() {
        for table in [
            "a b",
            "x\"y",
            "a.b.c",
            "1abc",
            "",
            "medlemmar;--",
            &"a".repeat(64),
        ] {
            assert!(!is_table_name(table), "{table}");
        }
        for ok in ["medlemmar", "_x", "public.medlemmar", "A1_b"] {
            assert!(is_table_name(ok), "{ok}");
        }
        let mut cols = MINIMAL.to_vec();
        cols.push(("email", "e-post"));
        let msg = Mapping::from_config(&cfg("t", &cols))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("register.columns.email"), "{msg}");
    }

    proptest::proptest! {
        #[test]
        fn an_accepted_identifier_never_contains_a_quote_or_space(s in "\\PC{0,70}") {
            if is_table_name(&s) {
                proptest::prop_assert!(!s.contains(['"', '`', '\'', ' ', ';']));
            }
        }
    }
}

//! `registervakt.example.toml` names every key the broker reads, and nothing else (issue 20,
//! item 8).
//!
//! The convention: every key appears exactly once in its section, either set (`key = value`)
//! or, when it is optional without a default, commented out as `# key = example` (a whole
//! optional section likewise as `# [section]`). Uncommenting those lines gives a file that
//! sets every key.
//!
//! Which keys the broker reads is asked of serde itself, not of a list kept by hand: every
//! configuration struct has `deny_unknown_fields`, so a key it does not know is refused with
//! the list of the fields it has. Putting an unknown key into each table of the uncommented
//! example therefore yields, table by table, the fields of the struct behind it. A field added
//! to a struct without the example fails [`the_example_names_every_key_the_broker_reads`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use figment::Figment;
use figment::providers::{Format, Toml};
use registervakt::config::Config;

const EXAMPLE: &str = include_str!("../../registervakt.example.toml");
/// A key no configuration struct has.
const PROBE: &str = "zz_not_a_key";

/// The example with its commented-out keys and sections uncommented.
fn uncommented() -> String {
    EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if is_section(rest) || is_key(rest) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_section(line: &str) -> bool {
    let line = line.trim_end();
    line.starts_with('[') && line.ends_with(']') && !line.contains(' ')
}

fn is_key(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

/// The fields of the struct the table at `path` is read into, or `None` when that table is a
/// map (its keys are names the operator chooses: `oidc`, `register.columns`). An array of
/// tables on the way is entered at its first element.
fn fields_at(root: &toml::Table, path: &[String]) -> Option<BTreeSet<String>> {
    let mut probed = root.clone();
    let mut table = &mut probed;
    for key in path {
        table = match table.get_mut(key) {
            Some(toml::Value::Table(t)) => t,
            Some(toml::Value::Array(items)) => match items.first_mut() {
                Some(toml::Value::Table(t)) => t,
                other => panic!("`{key}`: an array of tables expected, got {other:?}"),
            },
            other => panic!("`{key}`: a table expected, got {other:?}"),
        };
    }
    table.insert(PROBE.into(), toml::Value::String("x".into()));
    let text = toml::to_string(&probed).unwrap();
    let err = Figment::new()
        .merge(Toml::string(&text))
        .extract::<Config>()
        .err()?;
    err.into_iter().find_map(|e| match e.kind {
        figment::error::Kind::UnknownField(field, expected) if field == PROBE => {
            Some(expected.iter().map(|f| (*f).to_owned()).collect())
        }
        _ => None,
    })
}

/// Per schema path (`register.limits`, `oidc.*`, `oidc.*.two_factors[]`): the fields serde
/// reads there, and the keys the example has there (over every entry of a map or array).
type Found = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>;

fn walk(root: &toml::Table, path: &[String], schema: &str, table: &toml::Table, found: &mut Found) {
    let fields = fields_at(root, path);
    let is_struct = fields.is_some();
    if let Some(fields) = fields {
        let entry = found.entry(schema.to_owned()).or_default();
        entry.0.extend(fields);
        entry.1.extend(table.keys().cloned());
    }
    for (key, value) in table {
        let child = match (is_struct, schema.is_empty()) {
            (false, _) => format!("{schema}.*"),
            (true, true) => key.clone(),
            (true, false) => format!("{schema}.{key}"),
        };
        let mut here = path.to_vec();
        here.push(key.clone());
        match value {
            toml::Value::Table(t) => walk(root, &here, &child, t, found),
            // Only the first element is probed (all are read into the same struct); every
            // element's keys count as present.
            toml::Value::Array(items) if items.iter().all(toml::Value::is_table) => {
                for item in items.iter().filter_map(toml::Value::as_table) {
                    walk(root, &here, &format!("{child}[]"), item, found);
                }
            }
            _ => {}
        }
    }
}

#[test]
fn the_examples_keys_each_appear_once_and_the_uncommented_example_loads() {
    let text = uncommented();
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("the uncommented example is not TOML (a key twice?): {e}"));
    assert!(table.contains_key("smtp") && table.contains_key("oidc"));
    let cfg = Config::from_toml(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.policy.dir.is_some(), "[policy] dir is in the example");
    assert!(cfg.smtp.is_some());
}

#[test]
fn the_example_names_every_key_the_broker_reads() {
    let root: toml::Table = uncommented().parse().unwrap();
    let mut found = Found::new();
    walk(&root, &[], "", &root, &mut found);
    // The walk reached the nested tables: a probe that silently found nothing would pass.
    for schema in [
        "",
        "register",
        "register.limits",
        "oidc.*",
        "oidc.*.two_factors[]",
        "smtp",
    ] {
        assert!(found.contains_key(schema), "no fields found for `{schema}`");
    }
    let mut problems = Vec::new();
    for (schema, (fields, present)) in &found {
        let dotted = |key: &str| {
            if schema.is_empty() {
                key.to_owned()
            } else {
                format!("{schema}.{key}")
            }
        };
        for missing in fields.difference(present) {
            problems.push(format!(
                "`{}` is read by the broker but not in registervakt.example.toml (add it, set or as `# {missing} = …`)",
                dotted(missing)
            ));
        }
        for unknown in present.difference(fields) {
            problems.push(format!(
                "`{}` is in the example but no key",
                dotted(unknown)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

//! The house's layering (ARCHITECTURE.md, issue 16), read from the code's own imports: every
//! `crate::X` a file under `src/X/…` names is a module of a lower layer than its own, so no
//! import runs back up and no two top-level modules import each other. Domain code never
//! names `axum`. A planted back-import is caught (the last test).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may import only modules of lower layers.
const LAYERS: &[&[&str]] = &[
    &["nouns", "text", "crypto"],
    &["synthetic", "config"],
    &["store"],
    &["audit"],
    &["policy", "notify"],
    &["register", "auth"],
    &["context"],
    &["extract", "admin"],
    &["oversight"],
    &["web"],
    &["app"],
    &["cli"],
];

/// Modules above the domain: the domain (everything below `web`) may not name axum.
const ABOVE_DOMAIN: &[&str] = &["web", "app", "cli"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level module a file under `src/` belongs to (`None`: `lib.rs`, `main.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a text names as `crate::X`, also inside `use crate::{X, Y::…}`.
fn named_modules(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if !preceded_by_ident {
            if let Some(group) = after.strip_prefix('{') {
                // Only the first segment of each item counts: `{audit::{self, Event}, store}`.
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            push_head(&mut found, &item);
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                push_head(&mut found, &item);
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        }
        rest = after;
    }
    found
}

/// The first path segment of one item of a `use crate::{…}` group, unless it is `self`.
fn push_head(found: &mut Vec<String>, item: &str) {
    let head = item.trim().split("::").next().unwrap_or("").trim();
    if !head.is_empty() && head != "self" {
        found.push(head.to_owned());
    }
}

/// Every import that breaks the layering, as `file: module → named (why)`.
fn violations(src: &Path, extra: Option<(&str, &str)>) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut texts: BTreeMap<PathBuf, String> = files
        .into_iter()
        .map(|f| {
            let text =
                std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, text)
        })
        .collect();
    if let Some((file, planted)) = extra {
        let path = src.join(file);
        texts.entry(path).or_default().push_str(planted);
    }
    let mut out = Vec::new();
    for (file, text) in &texts {
        let Some(module) = module_of(src, file) else {
            continue;
        };
        let shown = file.strip_prefix(src).unwrap_or(file).display();
        let Some(own) = layer_of(&module) else {
            out.push(format!(
                "src/{shown}: module `{module}` is in no layer of tests/it/layering.rs"
            ));
            continue;
        };
        for named in named_modules(text) {
            if named == module {
                continue;
            }
            match layer_of(&named) {
                Some(theirs) if theirs < own => {}
                Some(_) => out.push(format!(
                    "src/{shown}: `{module}` imports `{named}`, which is not below it"
                )),
                None => out.push(format!(
                    "src/{shown}: `{module}` names `crate::{named}`, which is in no layer"
                )),
            }
        }
        if !ABOVE_DOMAIN.contains(&module.as_str()) && text.contains("axum") {
            out.push(format!("src/{shown}: domain module `{module}` names axum"));
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_import_runs_down_the_layers_and_no_domain_module_names_the_web() {
    let found = violations(&src(), None);
    assert!(
        found.is_empty(),
        "imports against the layering:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_top_level_module_is_in_exactly_one_layer() {
    let mut names: Vec<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    let before = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), before, "a module is in two layers");
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in files {
        if let Some(module) = module_of(&src(), &file) {
            assert!(layer_of(&module).is_some(), "`{module}` is in no layer");
        }
    }
}

#[test]
fn a_planted_back_import_or_axum_in_the_domain_is_caught() {
    let planted = violations(
        &src(),
        Some(("extract/request.rs", "\nuse crate::web::AppState;\n")),
    );
    assert!(
        planted
            .iter()
            .any(|v| v.contains("`extract` imports `web`")),
        "{planted:?}"
    );
    let grouped = violations(
        &src(),
        Some((
            "store/mod.rs",
            "\nuse crate::{nouns::Field, policy::Grant};\n",
        )),
    );
    assert!(
        grouped
            .iter()
            .any(|v| v.contains("`store` imports `policy`")),
        "{grouped:?}"
    );
    let axum = violations(&src(), Some(("policy/mod.rs", "\nuse axum::Json;\n")));
    assert!(
        axum.iter().any(|v| v.contains("`policy` names axum")),
        "{axum:?}"
    );
    let sideways = violations(
        &src(),
        Some((
            "admin/mod.rs",
            "\nfn f() { crate::extract::lifecycle::x(); }\n",
        )),
    );
    assert!(
        sideways
            .iter()
            .any(|v| v.contains("`admin` imports `extract`")),
        "{sideways:?}"
    );
}

#[test]
fn imports_are_read_from_paths_and_groups_alike() {
    let text = "use crate::{audit::{self, Event}, store};\nlet x = crate::policy::Action::AuditView;\n// not::crate::web\nmycrate::nope";
    assert_eq!(named_modules(text), ["audit", "store", "policy"]);
}

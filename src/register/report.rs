//! `registervakt register check`: what the broker sees in the register, for the operator.
//!
//! Guarantees: the report holds only aggregate numbers, district names and the mapping —
//! never a member's values. It warns when the register's credentials could write (least
//! privilege: the broker only reads) and when protected-identity flags are missing (those
//! members are treated as protected and never included). Each step is announced as it starts
//! and timed as it ends ([`Progress`]), so an operator facing a slow register sees which
//! statement it is slow on.

use crate::nouns::{Field, Sensitivity};
use std::fmt;
use std::time::{Duration, Instant};

use super::{Error, Mapping};
use crate::store::register::RegisterDb;

/// One mapped field as shown in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedField {
    pub field: Field,
    pub column: String,
    pub sensitivity: Sensitivity,
}

/// The result of checking the register connection and mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub backend: &'static str,
    /// `host:port` or the SQLite path.
    pub location: String,
    pub table: String,
    pub mapping: Vec<MappedField>,
    /// Catalogue fields that are not mapped (they cannot be requested or filtered on).
    pub unmapped: Vec<Field>,
    /// Members per district, `None` for rows without a district.
    pub districts: Vec<(Option<String>, u64)>,
    pub total_members: u64,
    /// Rows whose protected-identity flag is explicitly true.
    pub protected: u64,
    /// Rows whose protected-identity flag is NULL or unreadable: treated as protected.
    pub protected_null: u64,
    /// Whether the register's credentials could write to the table; `None` if unknown.
    pub writable: Option<bool>,
    pub warnings: Vec<String>,
}

/// A step of the check: announced as it starts, timed when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Started(&'static str),
    Finished(&'static str, Duration),
}

/// The steps [`build`] takes, in order.
pub const STEPS: [&str; 3] = [
    "counting members per district",
    "counting protected-identity flags",
    "asking whether the credentials can write",
];

/// Runs `step`, telling `progress` when it starts and how long it took.
async fn timed<T>(
    name: &'static str,
    progress: &mut (dyn FnMut(Progress) + Send),
    step: impl Future<Output = Result<T, crate::store::register::Error>>,
) -> Result<T, Error> {
    progress(Progress::Started(name));
    let started = Instant::now();
    let out = step.await?;
    progress(Progress::Finished(name, started.elapsed()));
    Ok(out)
}

pub(super) async fn build(
    db: &RegisterDb,
    mapping: &Mapping,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<CheckReport, Error> {
    let table = mapping.table();
    let [districts_step, census_step, write_step] = STEPS;
    let by_district = db.count_by(table, mapping.district_column(), &[]);
    let districts = timed(districts_step, progress, by_district).await?;
    let flags = db.flag_census(table, mapping.protected_identity_column());
    let census = timed(census_step, progress, flags).await?;
    let writable = timed(write_step, progress, db.can_write(table)).await?;
    let mut report = CheckReport {
        backend: db.backend().as_str(),
        location: db.location().to_owned(),
        table: table.to_owned(),
        mapping: mapping
            .iter()
            .map(|(field, column)| MappedField {
                field,
                column: column.to_owned(),
                sensitivity: field.sensitivity(),
            })
            .collect(),
        unmapped: Field::ALL
            .into_iter()
            .filter(|f| mapping.column(*f).is_none())
            .collect(),
        total_members: districts.iter().map(|(_, n)| n).sum(),
        districts,
        protected: census.explicitly_true,
        protected_null: census.unknown,
        writable,
        warnings: Vec::new(),
    };
    report.warnings = warnings(&report);
    Ok(report)
}

fn warnings(r: &CheckReport) -> Vec<String> {
    let mut out = Vec::new();
    match r.writable {
        Some(true) => out.push(format!(
            "the register credentials can write to `{}`; Registervakt only reads, so grant it \
             SELECT only (least privilege)",
            r.table
        )),
        Some(false) => {}
        None => out.push("could not tell whether the register credentials can write".to_owned()),
    }
    if r.protected_null > 0 {
        out.push(format!(
            "{} members have no readable protected_identity value; they are treated as protected \
             and never included until the register says false",
            r.protected_null
        ));
    }
    if r.districts.iter().any(|(d, _)| d.is_none()) {
        out.push(
            "some members have no district; no district filter will ever include them".to_owned(),
        );
    }
    out
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Member register: {} at {}, table `{}`",
            self.backend, self.location, self.table
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "Mapping ({} of {} fields):",
            self.mapping.len(),
            Field::ALL.len()
        )?;
        for m in &self.mapping {
            writeln!(
                f,
                "  {:<20} <- {:<24} [{}]",
                m.field.as_str(),
                m.column,
                m.sensitivity
            )?;
        }
        if !self.unmapped.is_empty() {
            let names: Vec<&str> = self.unmapped.iter().map(|f| f.as_str()).collect();
            writeln!(f, "  not mapped: {}", names.join(", "))?;
        }
        writeln!(f)?;
        writeln!(f, "Members per district ({} in total):", self.total_members)?;
        for (district, n) in &self.districts {
            writeln!(
                f,
                "  {:<28} {n:>10}",
                district.as_deref().unwrap_or("(no district)")
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "Protected identity: {} flagged, {} unknown (treated as protected)",
            self.protected, self.protected_null
        )?;
        let writable = match self.writable {
            Some(true) => "yes",
            Some(false) => "no (good: read-only credentials)",
            None => "unknown",
        };
        writeln!(f, "Credentials can write: {writable}")?;
        if self.warnings.is_empty() {
            writeln!(f, "\nNo warnings.")?;
        } else {
            writeln!(f, "\nWarnings:")?;
            for w in &self.warnings {
                writeln!(f, "  ! {w}")?;
            }
        }
        Ok(())
    }
}

//! The member register, seen from the broker: a field catalogue with sensitivity classes, a
//! validated column mapping, structured filters, and [`Register`], a read-only handle that
//! counts and streams members.
//!
//! Guarantees:
//! - The broker can only *read* through a [`Register`]: the connection is read-only at the
//!   session level and no function here writes (the synthetic-register writer lives in
//!   `store::register_writer` and is never reachable from a `Register`).
//! - Members with protected identity are excluded unless a caller passes
//!   [`ProtectedIdentity::Include`], and the check fails closed: only an explicit false in the
//!   protected-identity column lets a member through; NULL counts as protected.
//! - A missing consent (NULL) is no consent.
//! - Errors are one sentence naming the config key or field and the fix; they never carry
//!   a password, a row or a value read from the register.
//!
//! Must never: build SQL (that is `store::register`), read the clock (`today` is an
//! argument), or accept an identifier from a user (identifiers come from the config only).

mod filter;
mod mapping;
mod report;

#[cfg(test)]
mod connector_tests;

use crate::nouns::{DistrictCode, Field, FieldKind};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use time::Date;

use crate::config::RegisterConfig;
use crate::store;
use crate::store::register::{
    Backend, ColumnKind, Condition, CountQuery, RegisterDb, RowQuery, Value,
};

pub use filter::{
    AgeBand, FILTER_VALUE, Filter, MAX_AGE, MAX_LIST, MAX_VALUE_CHARS, ProtectedIdentity,
    years_before,
};
pub use mapping::{Mapping, is_identifier, is_table_name};
pub use report::{CheckReport, MappedField, Progress};

/// One member's requested values, aligned with the requested fields; dates as `YYYY-MM-DD`,
/// flags as `true`/`false`, NULL as `None`.
pub type Row = Vec<Option<String>>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field name or district code that is not one.
    #[error(transparent)]
    Noun(#[from] crate::nouns::Error),
    #[error("register.columns.{key} is not a known field (known: {known})")]
    UnknownFieldInConfig { key: String, known: String },
    #[error("register.columns.{field} is missing: {why}")]
    MandatoryFieldUnmapped { field: Field, why: &'static str },
    #[error(
        "{key} is not a plain identifier: use letters, digits and '_' (at most 63, not starting \
         with a digit), and for register.table optionally schema.table"
    )]
    BadIdentifier { key: String },
    #[error(
        "cannot reach the member register ({backend} at {location}): {cause}; check register.url \
         and that the database is up"
    )]
    Unreachable {
        backend: &'static str,
        location: String,
        cause: String,
    },
    #[error(
        "the member register ({backend} at {location}) has no table or view `{table}`; check register.table"
    )]
    TableMissing {
        backend: &'static str,
        location: String,
        table: String,
    },
    #[error(
        "register.columns.{field} maps to column `{column}`, which table `{table}` does not have (it has: {has})"
    )]
    ColumnMissing {
        field: Field,
        column: String,
        table: String,
        has: String,
    },
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    #[error(
        "the filter uses {field}, which register.columns does not map; map it or drop that filter"
    )]
    FilterOnUnmappedField { field: Field },
    #[error("{field} is not mapped in register.columns, so it cannot be read")]
    FieldUnmapped { field: Field },
    #[error("no fields were requested")]
    NoFields,
    #[error("{0} is requested more than once")]
    DuplicateField(Field),
    #[error(
        "the register holds no member whose {column} is one of register.statuses.members ({members}); \
         it holds {found}: list the values that count as members there"
    )]
    NoMemberStatus {
        column: String,
        members: String,
        found: String,
    },
    #[error(transparent)]
    Store(store::register::Error),
}

impl From<store::register::Error> for Error {
    fn from(e: store::register::Error) -> Self {
        match e {
            store::register::Error::Connect {
                backend,
                location,
                cause,
            } => Error::Unreachable {
                backend,
                location,
                cause,
            },
            other => Error::Store(other),
        }
    }
}

/// How the members matching a filter split up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub included: u64,
    /// Excluded because the protected-identity flag is true, NULL or unreadable.
    pub excluded_protected: u64,
    /// Not protected, but lacking at least one required consent (NULL is no consent).
    pub excluded_no_consent: u64,
}

/// A request's district as [`Register::survey`] reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Survey {
    /// Whether the district holds any member at all.
    pub holds_members: bool,
    /// The filter's local branches and statuses that no member of the district holds, in the
    /// filter's order (a blank value is never held): the misspelt choices.
    pub not_held: Vec<(Field, String)>,
    /// The filter's members.
    pub counts: Counts,
}

impl Survey {
    /// Whether the district holds `value` of `field`, for a value of the surveyed filter.
    pub fn holds(&self, field: Field, value: &str) -> bool {
        !self.not_held.iter().any(|(f, v)| *f == field && v == value)
    }
}

/// A read-only handle on the member register. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Register {
    db: RegisterDb,
    mapping: Arc<Mapping>,
    member_statuses: Arc<[String]>,
}

/// The districts the register holds members in, read when asked: what a role may be given in
/// and a list requested for (a district the register does not hold is a misspelling).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Districts(Vec<DistrictCode>);

impl Districts {
    pub fn contains(&self, district: &DistrictCode) -> bool {
        self.0.contains(district)
    }

    pub fn iter(&self) -> impl Iterator<Item = &DistrictCode> {
        self.0.iter()
    }

    /// For tests and the CLI's demo: exactly these districts.
    pub fn of(districts: Vec<DistrictCode>) -> Districts {
        Districts(districts)
    }
}

/// What a request in one district can choose among: the values the register holds there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    /// Local branches, sorted; empty when `local_branch` is not mapped.
    pub local_branches: Vec<String>,
    /// Membership statuses, sorted; empty when `membership_status` is not mapped.
    pub statuses: Vec<String>,
}

impl Choices {
    /// Whether `value` is one of the held values of `field` (only local branches and statuses
    /// are listed; any other field holds nothing here).
    pub fn contains(&self, field: Field, value: &str) -> bool {
        let values = match field {
            Field::LocalBranch => &self.local_branches,
            Field::MembershipStatus => &self.statuses,
            _ => return false,
        };
        values.iter().any(|v| v == value)
    }
}

impl Register {
    /// Validates the mapping, connects read-only and checks every mapped column exists.
    pub async fn open(cfg: &RegisterConfig) -> Result<Register, Error> {
        let mapping = Mapping::from_config(cfg)?;
        let timeout = Duration::from_secs(cfg.connect_timeout_secs);
        let db = RegisterDb::connect(&cfg.url, timeout, cfg.max_connections, limits(cfg)).await?;
        check_columns(&db, &mapping).await?;
        let register = Register {
            db,
            mapping: Arc::new(mapping),
            member_statuses: cfg.statuses.members.clone().into(),
        };
        register.check_member_statuses().await?;
        Ok(register)
    }

    /// The statuses that count as members (`register.statuses.members`): what a request that
    /// names no status gets.
    pub fn member_statuses(&self) -> &[String] {
        &self.member_statuses
    }

    /// Refuses a register that has members but none with a member status: every default
    /// request would be empty, and the operator must say which of its values count.
    async fn check_member_statuses(&self) -> Result<(), Error> {
        let Some(column) = self.mapping.column(Field::MembershipStatus) else {
            return Ok(());
        };
        let values = self.db.count_by(self.mapping.table(), column, &[]).await?;
        let held: Vec<&str> = values.iter().filter_map(|(v, _)| v.as_deref()).collect();
        if held.is_empty()
            || held
                .iter()
                .any(|v| self.member_statuses.iter().any(|m| m == v))
        {
            return Ok(());
        }
        Err(Error::NoMemberStatus {
            column: column.to_owned(),
            members: self.member_statuses.join(", "),
            found: held.iter().take(20).copied().collect::<Vec<_>>().join(", "),
        })
    }

    /// The districts the register holds members in, sorted (a value that is no district code
    /// is left out: it can be neither requested nor granted).
    pub async fn districts(&self) -> Result<Districts, Error> {
        let values = self
            .db
            .count_by(self.mapping.table(), self.mapping.district_column(), &[])
            .await?;
        Ok(Districts(
            values
                .into_iter()
                .filter_map(|(v, _)| DistrictCode::parse(v.as_deref()?).ok())
                .collect(),
        ))
    }

    /// Whether the register holds any member in `district`.
    pub async fn has_district(&self, district: &DistrictCode) -> Result<bool, Error> {
        let column = self.mapping.district_column();
        let rows = self
            .db
            .count_by(
                self.mapping.table(),
                column,
                &[in_district(column, district)],
            )
            .await?;
        Ok(rows.iter().any(|(_, n)| *n > 0))
    }

    /// The local branches and statuses the register holds in `district` (names, no counts).
    pub async fn choices(&self, district: &DistrictCode) -> Result<Choices, Error> {
        let in_district = [in_district(self.mapping.district_column(), district)];
        let in_district = &in_district;
        let values = |field: Field| async move {
            let Some(column) = self.mapping.column(field) else {
                return Ok::<_, Error>(Vec::new());
            };
            let rows = self
                .db
                .count_by(self.mapping.table(), column, in_district)
                .await?;
            Ok(rows
                .into_iter()
                .filter_map(|(v, _)| v.filter(|v| !v.trim().is_empty()))
                .collect())
        };
        Ok(Choices {
            local_branches: values(Field::LocalBranch).await?,
            statuses: values(Field::MembershipStatus).await?,
        })
    }

    /// What a request needs from the register, read in one statement: whether the filter's
    /// district holds any member, which of the filter's local branches and statuses it holds
    /// (compared as the filter compares them, so a value the filter would select rows by is
    /// held), and the filter's [`Register::count`]. The same answers as [`Register::has_district`],
    /// [`Register::choices`] (for values spelt as the register holds them) and [`Register::count`].
    pub async fn survey(
        &self,
        filter: &Filter,
        protected: ProtectedIdentity,
        today: Date,
    ) -> Result<Survey, Error> {
        let query = self.count_query(filter, protected, today)?;
        // Every value of a mapped field is asked about, in the filter's order.
        let chosen: Vec<(Field, &str, &String)> = [
            (Field::LocalBranch, &filter.local_branches),
            (Field::MembershipStatus, &filter.statuses),
        ]
        .into_iter()
        .filter_map(|(field, values)| Some((field, self.mapping.column(field)?, values)))
        .flat_map(|(field, column, values)| values.iter().map(move |v| (field, column, v)))
        .collect();
        let asked: Vec<(&str, &str)> = chosen.iter().map(|(_, c, v)| (*c, v.as_str())).collect();
        let read = self.db.survey(&query, &asked).await?;
        let not_held = chosen
            .iter()
            .zip(read.held.iter().copied().chain(std::iter::repeat(false)))
            .filter(|((_, _, value), held)| !held || value.trim().is_empty())
            .map(|((field, _, value), _)| (*field, (*value).clone()))
            .collect();
        Ok(Survey {
            holds_members: read.district_held,
            not_held,
            counts: Counts {
                included: read.counts.included,
                excluded_protected: read.counts.excluded_protected,
                excluded_no_consent: read.counts.excluded_no_consent,
            },
        })
    }

    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// `"sqlite"`, `"postgres"` or `"mariadb"`.
    pub fn backend(&self) -> &'static str {
        self.db.backend().as_str()
    }

    /// `SELECT 1` for readiness.
    pub async fn ping(&self) -> Result<(), Error> {
        Ok(self.db.ping().await?)
    }

    /// Reads one row of every mapped column through the mapping, for readiness, and keeps
    /// nothing of it: it fails where an extract would (a revoked `SELECT`, a dropped column, a
    /// view whose table is gone), which [`Register::ping`] does not. Unbounded here; the
    /// caller sets the time limit.
    pub async fn probe(&self) -> Result<(), Error> {
        let columns: Vec<&str> = self.mapping.iter().map(|(_, column)| column).collect();
        Ok(self.db.read_one_row(self.mapping.table(), &columns).await?)
    }

    /// The statement's parts for counting what `filter` selects.
    fn count_query(
        &self,
        filter: &Filter,
        protected: ProtectedIdentity,
        today: Date,
    ) -> Result<CountQuery, Error> {
        Ok(CountQuery {
            table: self.mapping.table().to_owned(),
            conditions: filter.conditions(&self.mapping, today)?,
            exclude_protected: match protected {
                ProtectedIdentity::Exclude => {
                    Some(self.mapping.protected_identity_column().to_owned())
                }
                ProtectedIdentity::Include => None,
            },
            require_true: filter.consent_columns(&self.mapping)?,
        })
    }

    /// How many members `filter` selects, and how many of them are excluded for protected
    /// identity or missing consent — in one statement, without reading any row.
    pub async fn count(
        &self,
        filter: &Filter,
        protected: ProtectedIdentity,
        today: Date,
    ) -> Result<Counts, Error> {
        let query = self.count_query(filter, protected, today)?;
        let c = self.db.count(&query).await?;
        Ok(Counts {
            included: c.included,
            excluded_protected: c.excluded_protected,
            excluded_no_consent: c.excluded_no_consent,
        })
    }

    /// Streams the included members' `fields`, ordered by member id. Exactly the members
    /// [`Register::count`] reports as `included` for the same arguments. Private: member data
    /// leaves the register only through [`Register::rows_for_grant`] (a snapshot's `Grant`)
    /// and [`Register::member_ids_for_reveal`] (an auditor's `pseudonym.resolve` permit).
    fn rows(
        &self,
        filter: &Filter,
        fields: &[Field],
        protected: ProtectedIdentity,
        today: Date,
    ) -> Result<BoxStream<'static, Result<Row, Error>>, Error> {
        let query = self.row_query(filter, fields, protected, today)?;
        let stream = self.db.rows(query)?;
        Ok(stream.map(|row| row.map_err(Error::from)).boxed())
    }

    /// Streams the members a [`Grant`](crate::policy::Grant) covers: the member id first (for
    /// the ledger and the keyed order), then the granted fields in order (the member id not
    /// again). The filter must be for the granted district, and the grant's consents are
    /// required whatever the filter says; protected identity is always excluded.
    pub fn rows_for_grant(
        &self,
        grant: &crate::policy::Grant,
        filter: &Filter,
        today: Date,
    ) -> Result<BoxStream<'static, Result<Row, Error>>, Error> {
        if &filter.district != grant.district() {
            return Err(Error::InvalidFilter(
                "the filter is for another district than the one granted".to_owned(),
            ));
        }
        let mut filter = filter.clone();
        filter.require_consent = grant.required_consents().to_vec();
        let mut fields = vec![Field::MemberId];
        fields.extend(grant.fields().iter().filter(|f| **f != Field::MemberId));
        self.rows(&filter, &fields, ProtectedIdentity::Exclude, today)
    }

    /// The member numbers of `district`, protected identities included, for an auditor who
    /// reveals which member a pseudonym stands for (a DPO case). Only member numbers are read;
    /// the permit must be for `pseudonym.resolve` and reach `district`.
    pub fn member_ids_for_reveal(
        &self,
        permit: &crate::policy::Permit,
        district: &DistrictCode,
        today: Date,
    ) -> Result<BoxStream<'static, Result<Row, Error>>, Error> {
        permit
            .check_district(crate::policy::Action::PseudonymResolve, district.as_str())
            .map_err(|e| Error::InvalidFilter(e.to_string()))?;
        let filter = Filter::district(district.clone());
        self.rows(
            &filter,
            &[Field::MemberId],
            ProtectedIdentity::Include,
            today,
        )
    }

    /// The statement [`Register::rows`] runs, with values inlined, for the register's own
    /// command-line client (`sqlite3`, `psql`). Benchmark use only; the broker never runs this
    /// text, and only a build with the `bench` feature has it.
    #[cfg(feature = "bench")]
    pub fn cli_statement(
        &self,
        filter: &Filter,
        fields: &[Field],
        protected: ProtectedIdentity,
        today: Date,
    ) -> Result<String, Error> {
        let query = self.row_query(filter, fields, protected, today)?;
        Ok(store::register::render_for_cli(self.db.backend(), &query))
    }

    fn row_query(
        &self,
        filter: &Filter,
        fields: &[Field],
        protected: ProtectedIdentity,
        today: Date,
    ) -> Result<RowQuery, Error> {
        let columns = self.selected_columns(fields)?;
        let mut conditions = filter.conditions(&self.mapping, today)?;
        if protected == ProtectedIdentity::Exclude {
            let column = self.mapping.protected_identity_column().to_owned();
            conditions.push(Condition::IsFalse(column));
        }
        let consents = filter.consent_columns(&self.mapping)?;
        conditions.extend(consents.into_iter().map(Condition::IsTrue));
        Ok(RowQuery {
            table: self.mapping.table().to_owned(),
            columns,
            conditions,
            order_by: self.mapping.member_id_column().to_owned(),
        })
    }

    /// The mapping, members per district, unknown protected flags and write access.
    pub async fn check_report(&self) -> Result<CheckReport, Error> {
        self.check_report_with(&mut |_| {}).await
    }

    /// [`Register::check_report`], telling `progress` as each step starts and ends.
    pub async fn check_report_with(
        &self,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<CheckReport, Error> {
        report::build(&self.db, &self.mapping, progress).await
    }

    /// Columns and kinds for `fields`: non-empty, no duplicates, all mapped.
    fn selected_columns(&self, fields: &[Field]) -> Result<Vec<(String, ColumnKind)>, Error> {
        if fields.is_empty() {
            return Err(Error::NoFields);
        }
        let mut seen = BTreeSet::new();
        fields
            .iter()
            .map(|&field| {
                if !seen.insert(field) {
                    return Err(Error::DuplicateField(field));
                }
                let kind = match field.kind() {
                    FieldKind::Text => ColumnKind::Text,
                    FieldKind::Date => ColumnKind::Date,
                    FieldKind::Bool => ColumnKind::Bool,
                };
                Ok((self.mapping.require(field)?.to_owned(), kind))
            })
            .collect()
    }
}

/// `register.limits` as the store enforces them.
fn limits(cfg: &RegisterConfig) -> store::register::Limits {
    store::register::Limits {
        statement: Duration::from_secs(
            cfg.limits
                .statement_timeout_secs
                .unwrap_or(crate::config::DEFAULT_STATEMENT_TIMEOUT_SECS),
        ),
        build: Duration::from_secs(cfg.limits.build_statement_timeout_secs),
    }
}

/// Every mapped column must exist in the table; the error names the key and lists what exists.
/// `column = district`.
fn in_district(column: &str, district: &DistrictCode) -> Condition {
    Condition::Equals {
        column: column.to_owned(),
        value: Value::Text(district.as_str().to_owned()),
    }
}

async fn check_columns(db: &RegisterDb, mapping: &Mapping) -> Result<(), Error> {
    let table = mapping.table();
    let Some(existing) = db.table_columns(table).await? else {
        return Err(Error::TableMissing {
            backend: db.backend().as_str(),
            location: db.location().to_owned(),
            table: table.to_owned(),
        });
    };
    // SQLite and MariaDB column names are case-insensitive; PostgreSQL quoted names are not.
    let same = |a: &str, b: &str| match db.backend() {
        Backend::Postgres => a == b,
        Backend::Sqlite | Backend::MariaDb => a.eq_ignore_ascii_case(b),
    };
    for (field, column) in mapping.iter() {
        if !existing.iter().any(|c| same(c, column)) {
            return Err(Error::ColumnMissing {
                field,
                column: column.to_owned(),
                table: table.to_owned(),
                has: existing.join(", "),
            });
        }
    }
    Ok(())
}

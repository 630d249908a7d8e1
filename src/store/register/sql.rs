//! SQL text for the member register, per dialect, as a list of literal pieces and bound values.
//!
//! Guarantees: every value that came from a filter is a [`Piece::Bind`], never spliced into
//! the text; the only interpolated names are identifiers the `register::Mapping` validated,
//! and they are quoted for the dialect anyway. Every statement built here is a SELECT.
//! Booleans are compared as text against explicit spellings, so a NULL or an unreadable
//! flag is never "false" (fail closed) whatever type the register uses for it.

use time::Date;

use super::{Backend, Error};

/// A value bound as a statement parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Date(Date),
}

/// One condition of a WHERE clause, on a validated column name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Equals {
        column: String,
        value: Value,
    },
    /// `values` must be non-empty; an empty list means "no condition" and is never rendered.
    OneOf {
        column: String,
        values: Vec<Value>,
    },
    AtLeast {
        column: String,
        value: Value,
    },
    AtMost {
        column: String,
        value: Value,
    },
    Above {
        column: String,
        value: Value,
    },
    /// Holds an explicit true (`1`, `t`, `true`); NULL and anything else do not.
    IsTrue(String),
    /// Holds an explicit false (`0`, `f`, `false`); NULL and anything else do not.
    IsFalse(String),
}

/// How a selected column's text is normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Date,
    Bool,
}

/// The three-way split of the members matching `conditions`.
#[derive(Debug, Clone)]
pub struct CountQuery {
    pub table: String,
    pub conditions: Vec<Condition>,
    /// The protected-identity column when protected members are to be excluded.
    pub exclude_protected: Option<String>,
    /// Consent columns that must all hold an explicit true.
    pub require_true: Vec<String>,
}

/// A streamed SELECT of `columns` (in order) from `table`, ordered by `order_by`.
#[derive(Debug, Clone)]
pub struct RowQuery {
    pub table: String,
    pub columns: Vec<(String, ColumnKind)>,
    pub conditions: Vec<Condition>,
    pub order_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Sql(String),
    Bind(Value),
}

/// A statement under construction: literal text and bound values, in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sql {
    pub(crate) pieces: Vec<Piece>,
}

impl Sql {
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        if let Some(Piece::Sql(last)) = self.pieces.last_mut() {
            last.push_str(text);
        } else {
            self.pieces.push(Piece::Sql(text.to_owned()));
        }
        self
    }

    pub(crate) fn bind(&mut self, value: Value) -> &mut Self {
        self.pieces.push(Piece::Bind(value));
        self
    }
}

const TRUE_SPELLINGS: &str = "('1', 't', 'true')";
const FALSE_SPELLINGS: &str = "('0', 'f', 'false')";

impl Backend {
    /// Quotes a validated identifier; doubling the quote character is belt and braces only.
    pub(crate) fn quote(self, ident: &str) -> String {
        match self {
            Backend::MariaDb => format!("`{}`", ident.replace('`', "``")),
            Backend::Sqlite | Backend::Postgres => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }

    /// Quotes `table` or `schema.table`.
    pub(crate) fn quote_table(self, table: &str) -> String {
        match table.split_once('.') {
            Some((schema, name)) => format!("{}.{}", self.quote(schema), self.quote(name)),
            None => self.quote(table),
        }
    }

    /// The column's value as text, so one decoder reads every type on every backend.
    pub(crate) fn as_text(self, column: &str) -> String {
        let q = self.quote(column);
        match self {
            Backend::Sqlite => format!("CAST({q} AS TEXT)"),
            Backend::Postgres => format!("{q}::text"),
            Backend::MariaDb => format!("CAST({q} AS CHAR)"),
        }
    }

    fn flag_in(self, column: &str, spellings: &str) -> String {
        format!("LOWER({}) IN {spellings}", self.as_text(column))
    }
}

/// Appends `cond` (one parenthesised boolean expression) to `sql`.
fn push_condition(sql: &mut Sql, backend: Backend, cond: &Condition) {
    let mut compare = |column: &str, op: &str, value: &Value| {
        sql.push(&format!("{} {op} ", backend.quote(column)))
            .bind(value.clone());
    };
    match cond {
        Condition::Equals { column, value } => compare(column, "=", value),
        Condition::AtLeast { column, value } => compare(column, ">=", value),
        Condition::AtMost { column, value } => compare(column, "<=", value),
        Condition::Above { column, value } => compare(column, ">", value),
        Condition::OneOf { column, values } => {
            sql.push(&format!("{} IN (", backend.quote(column)));
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(v.clone());
            }
            sql.push(")");
        }
        Condition::IsTrue(column) => {
            sql.push(&backend.flag_in(column, TRUE_SPELLINGS));
        }
        Condition::IsFalse(column) => {
            sql.push(&backend.flag_in(column, FALSE_SPELLINGS));
        }
    }
}

/// ` FROM t WHERE (c1) AND (c2)…`, or ` FROM t` without conditions.
fn push_from_where(sql: &mut Sql, backend: Backend, table: &str, conditions: &[Condition]) {
    sql.push(&format!(" FROM {}", backend.quote_table(table)));
    let rendered = conditions
        .iter()
        .filter(|c| !matches!(c, Condition::OneOf { values, .. } if values.is_empty()));
    for (i, cond) in rendered.enumerate() {
        sql.push(if i == 0 { " WHERE (" } else { " AND (" });
        push_condition(sql, backend, cond);
        sql.push(")");
    }
}

/// The AND of `conditions` as literal SQL (they carry no bound values), or `1 = 1`.
fn all_of(backend: Backend, conditions: &[Condition]) -> String {
    let mut sql = Sql::default();
    sql.push("1 = 1");
    for cond in conditions {
        sql.push(" AND ");
        push_condition(&mut sql, backend, cond);
    }
    sql.pieces
        .into_iter()
        .map(|p| match p {
            Piece::Sql(s) => s,
            // Unreachable for flag conditions; rendering a never-true predicate keeps it closed.
            Piece::Bind(_) => "1 = 0".to_owned(),
        })
        .collect()
}

/// One statement counting included / excluded-for-protection / excluded-for-consent.
///
/// `COUNT(CASE … THEN 1 END)` rather than `SUM(CASE …)`: COUNT is BIGINT on every backend
/// and 0 (not NULL) over no rows, where SUM is DECIMAL on MariaDB and NULL over no rows.
/// The nested CASEs make NULL fall into the excluded buckets: a NULL protected flag is
/// "not explicitly false", a NULL consent is "not explicitly true".
pub(crate) fn count_sql(backend: Backend, q: &CountQuery) -> Sql {
    let not_protected = match &q.exclude_protected {
        Some(column) => all_of(backend, &[Condition::IsFalse(column.clone())]),
        None => "1 = 1".to_owned(),
    };
    let consents: Vec<Condition> = q
        .require_true
        .iter()
        .cloned()
        .map(Condition::IsTrue)
        .collect();
    let consented = all_of(backend, &consents);
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT COUNT(CASE WHEN {not_protected} THEN CASE WHEN {consented} THEN 1 END END), \
         COUNT(CASE WHEN {not_protected} THEN NULL ELSE 1 END), \
         COUNT(CASE WHEN {not_protected} THEN CASE WHEN {consented} THEN NULL ELSE 1 END END)"
    ));
    push_from_where(&mut sql, backend, &q.table, &q.conditions);
    sql
}

/// The streamed SELECT: every column cast to text, ordered by the member id.
///
/// The outputs are aliased `v0, v1, …` because PostgreSQL names `"x"::text` after `x`, and
/// ORDER BY resolves output names first: `ORDER BY "medlemsnr"` would sort the *text*.
pub(crate) fn rows_sql(backend: Backend, q: &RowQuery) -> Sql {
    let columns: Vec<String> = q
        .columns
        .iter()
        .enumerate()
        .map(|(i, (c, _))| {
            format!(
                "{} AS {}",
                backend.as_text(c),
                backend.quote(&format!("v{i}"))
            )
        })
        .collect();
    let mut sql = Sql::default();
    sql.push(&format!("SELECT {}", columns.join(", ")));
    push_from_where(&mut sql, backend, &q.table, &q.conditions);
    sql.push(&format!(" ORDER BY {}", backend.quote(&q.order_by)));
    sql
}

/// `SELECT col-as-text, COUNT(*) … GROUP BY col`.
pub(crate) fn count_by_sql(
    backend: Backend,
    table: &str,
    column: &str,
    conditions: &[Condition],
) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!("SELECT {}, COUNT(*)", backend.as_text(column)));
    push_from_where(&mut sql, backend, table, conditions);
    sql.push(&format!(
        " GROUP BY {0} ORDER BY {0}",
        backend.quote(column)
    ));
    sql
}

/// Counts rows whose flag is explicitly true, and rows whose flag is neither true nor false.
pub(crate) fn flag_census_sql(backend: Backend, table: &str, column: &str) -> Sql {
    let is_true = backend.flag_in(column, TRUE_SPELLINGS);
    let is_false = backend.flag_in(column, FALSE_SPELLINGS);
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT COUNT(CASE WHEN {is_true} THEN 1 END), \
         COUNT(CASE WHEN {is_true} THEN NULL WHEN {is_false} THEN NULL ELSE 1 END)"
    ));
    push_from_where(&mut sql, backend, table, &[]);
    sql
}

/// Renders `q` for `backend`'s command-line client (`sqlite3`, `psql`) with values inlined as
/// SQL string literals. For the benchmarks' baselines only: the broker never executes this text.
#[cfg(any(test, feature = "bench"))]
pub fn render_for_cli(backend: Backend, q: &RowQuery) -> String {
    rows_sql(backend, q)
        .pieces
        .into_iter()
        .map(|p| match p {
            Piece::Sql(s) => s,
            Piece::Bind(Value::Text(t)) => format!("'{}'", t.replace('\'', "''")),
            Piece::Bind(Value::Date(d)) => format!("'{d}'"),
        })
        .collect()
}

/// Normalises one selected value: dates to `YYYY-MM-DD`, flags to `true`/`false`.
/// The error names the column, never the value (it could be member data).
pub(crate) fn normalise(
    column: &str,
    kind: ColumnKind,
    value: Option<String>,
) -> Result<Option<String>, Error> {
    let Some(text) = value else {
        return Ok(None);
    };
    let bad = |expected: &'static str| Error::BadValue {
        column: column.to_owned(),
        expected,
    };
    match kind {
        ColumnKind::Text => Ok(Some(text)),
        ColumnKind::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "1" | "t" | "true" => Ok(Some("true".to_owned())),
            "0" | "f" | "false" => Ok(Some("false".to_owned())),
            _ => Err(bad("boolean")),
        },
        ColumnKind::Date => {
            // A date may be stored with a midnight time part (`2001-02-03 00:00:00`).
            let (day, rest) = text.split_at_checked(10).ok_or_else(|| bad("date"))?;
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let valid_rest = rest.is_empty() || rest.starts_with([' ', 'T']);
            match Date::parse(day, &format) {
                Ok(_) if valid_rest => Ok(Some(day.to_owned())),
                _ => Err(bad("date")),
            }
        }
    }
}

/// Whether a MariaDB `SHOW GRANTS` line gives INSERT, UPDATE, DELETE or ALL on `db`.`table`.
pub(crate) fn grant_allows_writing(grant: &str, db: &str, table: &str) -> bool {
    let Some(rest) = grant.strip_prefix("GRANT ") else {
        return false;
    };
    let Some((privileges, rest)) = rest.split_once(" ON ") else {
        return false; // a role grant ("GRANT role TO user")
    };
    let Some((object, _)) = rest.split_once(" TO ") else {
        return false;
    };
    let writes = privileges.split(',').any(|p| {
        let p = p.trim().to_ascii_uppercase();
        ["ALL", "INSERT", "UPDATE", "DELETE"]
            .iter()
            .any(|w| p == *w || p.starts_with(&format!("{w} ")) || p.starts_with(&format!("{w}(")))
    });
    let object = object.trim().trim_start_matches("TABLE ").replace('`', "");
    let covers = object == "*.*"
        || object.eq_ignore_ascii_case(&format!("{db}.*"))
        || object.eq_ignore_ascii_case(&format!("{db}.{table}"));
    writes && covers
}

#[cfg(test)]
mod tests;

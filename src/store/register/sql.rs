//! SQL text for the member register, per dialect, as a list of literal pieces and bound values.
//!
//! Guarantees: every value that came from a filter is a [`Piece::Bind`], and every member id
//! read back to start the next page a [`Piece::Key`], never spliced into the text; the only
//! interpolated names are identifiers the `register::Mapping` validated (and the constant
//! names of a page's common table expression), quoted for the dialect anyway. Every statement
//! built here is a SELECT (a page's starts with `WITH`).
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
    /// A member id read back from a SQLite register, bound unchanged to start the next page.
    Key(Key),
}

/// A member id exactly as SQLite stored it (its storage class and bytes), so that comparing
/// the column with it orders exactly as `ORDER BY` does. A REAL is kept as its bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    Integer(i64),
    Real(u64),
    Text(String),
    Blob(Vec<u8>),
}

/// Which member ids one read of a SQLite register covers, in `ORDER BY` terms (the column's
/// own collation and affinity decide, as they do for the sort).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyRange {
    All,
    NotNull,
    Null,
    Above(Key),
    AtLeast(Key),
    Equal(Key),
}

/// Rows one page of a SQLite register holds at most ([`sqlite_page_sql`]).
pub(crate) const PAGE_ROWS: i64 = 512;

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

/// ` FROM t WHERE (c1) AND (c2)…`, or ` FROM t` without conditions; whether a WHERE was written.
fn push_from_where(sql: &mut Sql, backend: Backend, table: &str, conditions: &[Condition]) -> bool {
    sql.push(&format!(" FROM {}", backend.quote_table(table)));
    let rendered = conditions
        .iter()
        .filter(|c| !matches!(c, Condition::OneOf { values, .. } if values.is_empty()));
    let mut any = false;
    for cond in rendered {
        sql.push(if any { " AND (" } else { " WHERE (" });
        push_condition(sql, backend, cond);
        sql.push(")");
        any = true;
    }
    any
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
            Piece::Bind(_) | Piece::Key(_) => "1 = 0".to_owned(),
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
    let (not_protected, consented) = exclusions(backend, q);
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT COUNT(CASE WHEN {not_protected} THEN CASE WHEN {consented} THEN 1 END END), \
         COUNT(CASE WHEN {not_protected} THEN NULL ELSE 1 END), \
         COUNT(CASE WHEN {not_protected} THEN CASE WHEN {consented} THEN NULL ELSE 1 END END)"
    ));
    push_from_where(&mut sql, backend, &q.table, &q.conditions);
    sql
}

/// `q`'s two exclusions as literal predicates: not protected (`1 = 1` when protected members
/// are included) and every required consent explicitly true.
fn exclusions(backend: Backend, q: &CountQuery) -> (String, String) {
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
    (not_protected, all_of(backend, &consents))
}

/// A request's survey of its district, in one statement: the three counts of [`count_sql`]
/// over the rows `q` selects (one scan of those rows only, each row's two exclusions written
/// once, as 1 or 0, in the inner select), then whether the district holds any row at all, and
/// for each `(column, value)` of `held` whether any of the district's rows holds it, compared
/// as the filter compares (`column = value`, the column's own collation). `q.conditions[0]` is
/// the district's. Each "whether" is a count over `LIMIT 1`, so it stops at the first row that
/// answers yes and is a BIGINT, as every count is, on every backend. The district's other rows
/// are read only up to the first that holds each value, and all of them only for a value it
/// turns out not to hold (a request that is refused).
pub(crate) fn survey_sql(backend: Backend, q: &CountQuery, held: &[(&str, &str)]) -> Sql {
    let district = &q.conditions[..q.conditions.len().min(1)];
    let (not_protected, consented) = exclusions(backend, q);
    let [p, c] = ["p", "c"].map(|a| backend.quote(a));
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT COUNT(CASE WHEN {p} = 1 AND {c} = 1 THEN 1 END), \
         COUNT(CASE WHEN {p} = 0 THEN 1 END), COUNT(CASE WHEN {p} = 1 AND {c} = 0 THEN 1 END)"
    ));
    let any_row = |sql: &mut Sql, i: usize, also: Option<(&str, &str)>| {
        sql.push(", (SELECT COUNT(*) FROM (SELECT 1 AS ");
        sql.push(&backend.quote("one"));
        let any = push_from_where(sql, backend, &q.table, district);
        if let Some((column, value)) = also {
            sql.push(if any { " AND (" } else { " WHERE (" });
            sql.push(&format!("{} = ", backend.quote(column)))
                .bind(Value::Text(value.to_owned()))
                .push(")");
        }
        sql.push(&format!(
            " LIMIT 1) AS {})",
            backend.quote(&format!("h{i}"))
        ));
    };
    any_row(&mut sql, 0, None);
    for (i, (column, value)) in held.iter().enumerate() {
        any_row(&mut sql, i + 1, Some((column, value)));
    }
    sql.push(&format!(
        " FROM (SELECT CASE WHEN {not_protected} THEN 1 ELSE 0 END AS {p}, \
         CASE WHEN {consented} THEN 1 ELSE 0 END AS {c}"
    ));
    push_from_where(&mut sql, backend, &q.table, &q.conditions);
    sql.push(&format!(") AS {}", backend.quote("survey")));
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

/// `v0, v1, …` as the outputs of [`rows_sql`] name them.
fn output_names(backend: Backend, q: &RowQuery) -> Vec<String> {
    (0..q.columns.len())
        .map(|i| backend.quote(&format!("v{i}")))
        .collect()
}

/// [`rows_sql`] on SQLite narrowed to the member ids of `range` (no LIMIT): what a page
/// that cannot be cut at a member id (more than [`PAGE_ROWS`] rows share one) is read with.
pub(crate) fn sqlite_key_rows_sql(q: &RowQuery, range: &KeyRange) -> Sql {
    let backend = Backend::Sqlite;
    let mut sql = Sql::default();
    sql.push("SELECT ");
    let names = output_names(backend, q);
    for (i, ((column, _), name)) in q.columns.iter().zip(&names).enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        sql.push(&format!("{sep}{} AS {name}", backend.as_text(column)));
    }
    let any = push_from_where(&mut sql, backend, &q.table, &q.conditions);
    push_key_range(&mut sql, &q.order_by, range, any);
    sql.push(&format!(" ORDER BY {}", backend.quote(&q.order_by)));
    sql
}

/// One page of [`rows_sql`] on SQLite as a single row, so that sqlx's worker thread hands
/// over [`PAGE_ROWS`] members at once instead of one at a time:
///
/// 1. the page's rows as a JSON array of arrays of strings and nulls (`CAST(… AS TEXT)` as
///    [`rows_sql`] reads them, so values are exactly the same text), in member-id order;
/// 2. how many rows it holds, and 3. how many of them have a member id (NULL sorts first);
/// 4. the largest member id on the page, as stored (`max` returns what `ORDER BY` puts last);
/// 5. how many rows on the page have that member id (the column's collation decides).
///
/// The caller starts the next page at that id (inclusive) and keeps the rows that share it
/// for that page, so no member id is ever split across two pages, whether or not ids are
/// unique.
pub(crate) fn sqlite_page_sql(q: &RowQuery, range: &KeyRange) -> Sql {
    let backend = Backend::Sqlite;
    let page = backend.quote("registervakt_page");
    let key = backend.quote("registervakt_key");
    let names = output_names(backend, q);
    let mut sql = Sql::default();
    sql.push(&format!(
        "WITH {page} AS MATERIALIZED (SELECT {} AS {key}",
        backend.quote(&q.order_by)
    ));
    for ((column, _), name) in q.columns.iter().zip(&names) {
        sql.push(&format!(", {} AS {name}", backend.as_text(column)));
    }
    let any = push_from_where(&mut sql, backend, &q.table, &q.conditions);
    push_key_range(&mut sql, &q.order_by, range, any);
    sql.push(&format!(
        " ORDER BY {key} LIMIT {PAGE_ROWS}) \
         SELECT a.j, a.n, a.keyed, a.last, \
         (SELECT COUNT(*) FROM {page} WHERE {key} = a.last) \
         FROM (SELECT json_group_array(json_array({}) ORDER BY {key}) AS j, COUNT(*) AS n, \
         COUNT({key}) AS keyed, MAX({key}) AS last FROM {page}) AS a",
        names.join(", "),
    ));
    sql
}

/// ` AND (k > ?)` and the like (` WHERE (…)` when nothing came before).
fn push_key_range(sql: &mut Sql, order_by: &str, range: &KeyRange, after_where: bool) {
    let k = Backend::Sqlite.quote(order_by);
    let (op, key) = match range {
        KeyRange::All => return,
        KeyRange::NotNull => (" IS NOT NULL", None),
        KeyRange::Null => (" IS NULL", None),
        KeyRange::Above(key) => (" > ", Some(key)),
        KeyRange::AtLeast(key) => (" >= ", Some(key)),
        KeyRange::Equal(key) => (" = ", Some(key)),
    };
    sql.push(if after_where { " AND (" } else { " WHERE (" });
    sql.push(&format!("{k}{op}"));
    if let Some(key) = key {
        sql.pieces.push(Piece::Key(key.clone()));
    }
    sql.push(")");
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
            // `rows_sql` binds no member id; rendered as SQLite would read it, for completeness.
            Piece::Key(Key::Integer(n)) => n.to_string(),
            Piece::Key(Key::Real(bits)) => format!("{:e}", f64::from_bits(bits)),
            Piece::Key(Key::Text(t)) => format!("'{}'", t.replace('\'', "''")),
            Piece::Key(Key::Blob(b)) => format!("X'{}'", hex::encode(b)),
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

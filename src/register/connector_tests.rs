//! Tests of the member-register connector through its API: the same bodies run on SQLite (always),
//! PostgreSQL (`REGISTERVAKT_TEST_POSTGRES_URL`) and MariaDB (`REGISTERVAKT_TEST_MYSQL_URL`),
//! each on a fresh table written by `store::register_writer` and dropped afterwards.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

use crate::config::RegisterConfig;
use crate::register::*;
use crate::store::register_writer;
use crate::synthetic::{self, SyntheticMember};
use futures::{FutureExt, StreamExt, TryStreamExt};
use secrecy::SecretString;
use time::Date;
use time::macros::date;

mod shared;
mod sqlite_only;

use shared::*;

const TODAY: Date = date!(2026 - 05 - 17);

#[derive(Clone, Copy, Debug)]
enum Kind {
    Sqlite,
    Postgres,
    MariaDb,
}

/// A freshly written register table and how to reach it.
struct Fixture {
    url: String,
    table: String,
    /// Kept alive by `run`, not by the body: a body that only reads `url` would otherwise
    /// let the directory be deleted under it.
    dir: Option<tempfile::TempDir>,
}

impl Fixture {
    async fn new(kind: Kind, members: Vec<SyntheticMember>) -> Fixture {
        let (url, table, dir) = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", dir.path().join("register.db").display());
                (url, synthetic::DEMO_TABLE.to_owned(), Some(dir))
            }
            Kind::Postgres => (
                env_url("REGISTERVAKT_TEST_POSTGRES_URL"),
                random_table(),
                None,
            ),
            Kind::MariaDb => (env_url("REGISTERVAKT_TEST_MYSQL_URL"), random_table(), None),
        };
        let n = members.len() as u64;
        let written = register_writer::write_register(&url, &table, members.into_iter())
            .await
            .unwrap();
        assert_eq!(written, n);
        Fixture { url, table, dir }
    }

    fn config(&self) -> RegisterConfig {
        self.config_with(synthetic::demo_columns())
    }

    fn config_with(&self, columns: BTreeMap<String, String>) -> RegisterConfig {
        RegisterConfig {
            url: SecretString::from(self.url.clone()),
            table: self.table.clone(),
            columns,
            connect_timeout_secs: 5,
            max_connections: 2,
            statuses: Default::default(),
            limits: Default::default(),
        }
    }

    async fn open(&self) -> Register {
        Register::open(&self.config()).await.unwrap()
    }
}

fn env_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("set {var} to run this test"))
}

fn random_table() -> String {
    format!("rv_test_{:016x}", rand::random::<u64>())
}

/// Runs `body` on a fresh fixture and drops the table afterwards, even when `body` panics.
async fn run<F, Fut>(kind: Kind, members: Vec<SyntheticMember>, body: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut fixture = Fixture::new(kind, members).await;
    let (url, table) = (fixture.url.clone(), fixture.table.clone());
    let _dir = fixture.dir.take();
    let outcome = AssertUnwindSafe(body(fixture)).catch_unwind().await;
    if !matches!(kind, Kind::Sqlite) {
        register_writer::drop_table(&url, &table).await.unwrap();
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A member in Uppsala/Enköping, active, joined 2010, every consent given, not protected.
fn member(id: u64) -> SyntheticMember {
    let mut m = synthetic::generate(1, id).next().unwrap();
    m.member_id = id;
    m.district = "Uppsala".into();
    m.local_branch = "Enköping".into();
    m.membership_status = "active".into();
    m.joined_on = date!(2010 - 06 - 01);
    m.birth_date = date!(1980 - 01 - 01);
    for flag in [
        &mut m.consent_email,
        &mut m.consent_phone,
        &mut m.consent_sms,
        &mut m.consent_post,
    ] {
        *flag = Some(true);
    }
    m.protected_identity = Some(false);
    m
}

fn with(id: u64, change: impl FnOnce(&mut SyntheticMember)) -> SyntheticMember {
    let mut m = member(id);
    change(&mut m);
    m
}

fn uppsala() -> Filter {
    Filter::district(DistrictCode::parse("Uppsala").unwrap())
}

async fn ids(register: &Register, filter: &Filter, protected: ProtectedIdentity) -> Vec<u64> {
    register
        .rows(filter, &[Field::MemberId], protected, TODAY)
        .unwrap()
        .map(|row| row.unwrap()[0].as_deref().unwrap().parse::<u64>().unwrap())
        .collect()
        .await
}

/// 1 plain; 2 protected; 3 protected NULL; 4 no SMS consent; 5 SMS consent NULL;
/// 6 protected and no SMS consent; 7 another district.
fn protection_and_consent_members() -> Vec<SyntheticMember> {
    vec![
        member(1),
        with(2, |m| m.protected_identity = Some(true)),
        with(3, |m| m.protected_identity = None),
        with(4, |m| m.consent_sms = Some(false)),
        with(5, |m| m.consent_sms = None),
        with(6, |m| {
            m.protected_identity = Some(true);
            m.consent_sms = Some(false);
        }),
        with(7, |m| m.district = "Gotland".into()),
    ]
}

/// One thin test per backend for each shared body.
macro_rules! on_every_backend {
    ($body:ident, $sqlite:ident, $postgres:ident, $mariadb:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $body(Kind::Sqlite).await;
        }
        #[tokio::test]
        #[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
        async fn $postgres() {
            $body(Kind::Postgres).await;
        }
        #[tokio::test]
        #[ignore = "needs MariaDB (REGISTERVAKT_TEST_MYSQL_URL)"]
        async fn $mariadb() {
            $body(Kind::MariaDb).await;
        }
    };
}

on_every_backend!(
    a_survey_answers_as_the_separate_reads_do,
    sqlite_a_survey_answers_as_the_separate_reads_do,
    postgres_a_survey_answers_as_the_separate_reads_do,
    mariadb_a_survey_answers_as_the_separate_reads_do
);
on_every_backend!(
    counts_split_protected_and_missing_consent,
    sqlite_counts_split_protected_and_missing_consent,
    postgres_counts_split_protected_and_missing_consent,
    mariadb_counts_split_protected_and_missing_consent
);
on_every_backend!(
    protected_members_never_appear_unless_explicitly_included,
    sqlite_protected_members_never_appear_unless_explicitly_included,
    postgres_protected_members_never_appear_unless_explicitly_included,
    mariadb_protected_members_never_appear_unless_explicitly_included
);
on_every_backend!(
    consent_requirements_drop_members_without_consent,
    sqlite_consent_requirements_drop_members_without_consent,
    postgres_consent_requirements_drop_members_without_consent,
    mariadb_consent_requirements_drop_members_without_consent
);
on_every_backend!(
    branch_status_and_joined_filters_narrow_the_rows,
    sqlite_branch_status_and_joined_filters_narrow_the_rows,
    postgres_branch_status_and_joined_filters_narrow_the_rows,
    mariadb_branch_status_and_joined_filters_narrow_the_rows
);
on_every_backend!(
    an_age_band_counts_a_birthday_today,
    sqlite_an_age_band_counts_a_birthday_today,
    postgres_an_age_band_counts_a_birthday_today,
    mariadb_an_age_band_counts_a_birthday_today
);
on_every_backend!(
    values_come_back_normalised,
    sqlite_values_come_back_normalised,
    postgres_values_come_back_normalised,
    mariadb_values_come_back_normalised
);
on_every_backend!(
    rows_stream_in_member_id_order_and_agree_with_the_count,
    sqlite_rows_stream_in_member_id_order_and_agree_with_the_count,
    postgres_rows_stream_in_member_id_order_and_agree_with_the_count,
    mariadb_rows_stream_in_member_id_order_and_agree_with_the_count
);
on_every_backend!(
    an_injection_attempt_in_a_branch_name_matches_nothing,
    sqlite_an_injection_attempt_in_a_branch_name_matches_nothing,
    postgres_an_injection_attempt_in_a_branch_name_matches_nothing,
    mariadb_an_injection_attempt_in_a_branch_name_matches_nothing
);
on_every_backend!(
    a_missing_table_or_column_is_named_in_one_sentence,
    sqlite_a_missing_table_or_column_is_named_in_one_sentence,
    postgres_a_missing_table_or_column_is_named_in_one_sentence,
    mariadb_a_missing_table_or_column_is_named_in_one_sentence
);
on_every_backend!(
    requests_for_unmapped_duplicate_or_no_fields_are_refused,
    sqlite_requests_for_unmapped_duplicate_or_no_fields_are_refused,
    postgres_requests_for_unmapped_duplicate_or_no_fields_are_refused,
    mariadb_requests_for_unmapped_duplicate_or_no_fields_are_refused
);
on_every_backend!(
    the_check_report_counts_districts_and_unknown_flags_and_warns_about_write_access,
    sqlite_the_check_report_counts_districts_and_unknown_flags_and_warns_about_write_access,
    postgres_the_check_report_counts_districts_and_unknown_flags_and_warns_about_write_access,
    mariadb_the_check_report_counts_districts_and_unknown_flags_and_warns_about_write_access
);

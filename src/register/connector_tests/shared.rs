//! The test bodies shared by SQLite, PostgreSQL and MariaDB; `register.rs` calls each from
//! three thin tests.

use super::*;
use crate::nouns::ConsentFlag;

pub(super) async fn counts_split_protected_and_missing_consent(kind: Kind) {
    run(kind, protection_and_consent_members(), |fx| async move {
        let register = fx.open().await;
        let mut sms = uppsala();
        sms.require_consent = vec![ConsentFlag::Sms];
        let c = register
            .count(&sms, ProtectedIdentity::Exclude, TODAY)
            .await
            .unwrap();
        let want = Counts {
            included: 1,
            excluded_protected: 3,
            excluded_no_consent: 2,
        };
        assert_eq!(c, want);
        let c = register
            .count(&sms, ProtectedIdentity::Include, TODAY)
            .await
            .unwrap();
        let want = Counts {
            included: 3,
            excluded_protected: 0,
            excluded_no_consent: 3,
        };
        assert_eq!(c, want);
        let c = register
            .count(&uppsala(), ProtectedIdentity::Exclude, TODAY)
            .await
            .unwrap();
        let want = Counts {
            included: 3,
            excluded_protected: 3,
            excluded_no_consent: 0,
        };
        assert_eq!(c, want);
        assert_eq!(
            ids(&register, &sms, ProtectedIdentity::Exclude).await,
            vec![1]
        );
    })
    .await;
}

pub(super) async fn protected_members_never_appear_unless_explicitly_included(kind: Kind) {
    run(kind, protection_and_consent_members(), |fx| async move {
        let register = fx.open().await;
        assert_eq!(
            ids(&register, &uppsala(), ProtectedIdentity::Exclude).await,
            vec![1, 4, 5]
        );
        assert_eq!(
            ids(&register, &uppsala(), ProtectedIdentity::default()).await,
            vec![1, 4, 5]
        );
        let all = ids(&register, &uppsala(), ProtectedIdentity::Include).await;
        assert_eq!(all, vec![1, 2, 3, 4, 5, 6]);
    })
    .await;
}

pub(super) async fn consent_requirements_drop_members_without_consent(kind: Kind) {
    let members = vec![
        member(1),
        with(2, |m| m.consent_email = None),
        with(3, |m| m.consent_post = Some(false)),
        with(4, |m| m.consent_phone = Some(false)),
    ];
    run(kind, members, |fx| async move {
        let register = fx.open().await;
        let mut f = uppsala();
        f.require_consent = vec![ConsentFlag::Email, ConsentFlag::Post, ConsentFlag::Email];
        assert_eq!(
            ids(&register, &f, ProtectedIdentity::Exclude).await,
            vec![1, 4]
        );
        let c = register
            .count(&f, ProtectedIdentity::Exclude, TODAY)
            .await
            .unwrap();
        assert_eq!((c.included, c.excluded_no_consent), (2, 2));
        f.require_consent = vec![ConsentFlag::Phone];
        assert_eq!(
            ids(&register, &f, ProtectedIdentity::Exclude).await,
            vec![1, 2, 3]
        );
    })
    .await;
}

pub(super) async fn branch_status_and_joined_filters_narrow_the_rows(kind: Kind) {
    let members = vec![
        member(1),
        with(2, |m| m.local_branch = "Tierp".into()),
        with(3, |m| m.membership_status = "paused".into()),
        with(4, |m| m.joined_on = date!(2020 - 01 - 01)),
        with(5, |m| m.joined_on = date!(2020 - 12 - 31)),
        with(6, |m| m.joined_on = date!(2021 - 01 - 01)),
    ];
    run(kind, members, |fx| async move {
        let register = fx.open().await;
        let rows = async |f: &Filter| ids(&register, f, ProtectedIdentity::Exclude).await;
        let mut f = uppsala();
        f.local_branches = vec!["Tierp".into(), "Östhammar".into()];
        assert_eq!(rows(&f).await, vec![2]);
        let mut f = uppsala();
        f.statuses = vec!["active".into()];
        assert_eq!(rows(&f).await, vec![1, 2, 4, 5, 6]);
        let mut f = uppsala();
        f.joined_from = Some(date!(2020 - 01 - 01));
        f.joined_to = Some(date!(2020 - 12 - 31));
        assert_eq!(rows(&f).await, vec![4, 5], "both bounds are inclusive");
        f.local_branches = vec!["Enköping".into()];
        f.statuses = vec!["active".into(), "paused".into()];
        assert_eq!(rows(&f).await, vec![4, 5]);
    })
    .await;
}

pub(super) async fn an_age_band_counts_a_birthday_today(kind: Kind) {
    let born = |id, d: Date| with(id, |m| m.birth_date = d);
    let members = vec![
        born(1, date!(2008 - 05 - 17)), // 18 today
        born(2, date!(2008 - 05 - 18)), // 17 until tomorrow
        born(3, date!(1996 - 05 - 17)), // 30 today
        born(4, date!(1995 - 05 - 17)), // 31 today
        born(5, date!(1995 - 05 - 18)), // 30, 31 tomorrow
    ];
    run(kind, members, |fx| async move {
        let register = fx.open().await;
        let mut f = uppsala();
        f.age = Some(AgeBand::new(18, 30).unwrap());
        assert_eq!(
            ids(&register, &f, ProtectedIdentity::Exclude).await,
            vec![1, 3, 5]
        );
        let c = register
            .count(&f, ProtectedIdentity::Exclude, TODAY)
            .await
            .unwrap();
        assert_eq!(c.included, 3);
    })
    .await;
}

pub(super) async fn values_come_back_normalised(kind: Kind) {
    let members = vec![
        with(1, |m| {
            m.consent_phone = Some(false);
            m.phone = None;
        }),
        with(2, |m| m.consent_sms = None),
    ];
    let expected = members.clone();
    run(kind, members, |fx| async move {
        let register = fx.open().await;
        let rows: Vec<Row> = register
            .rows(&uppsala(), &Field::ALL, ProtectedIdentity::Exclude, TODAY)
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        for (row, m) in rows.iter().zip(&expected) {
            let want: Vec<Option<String>> = Field::ALL.iter().map(|f| m.value(*f)).collect();
            assert_eq!(row, &want);
        }
        assert_eq!(
            rows[0][Field::ALL
                .iter()
                .position(|f| *f == Field::ConsentPhone)
                .unwrap()]
            .as_deref(),
            Some("false")
        );
        assert_eq!(
            rows[0][Field::ALL
                .iter()
                .position(|f| *f == Field::JoinedOn)
                .unwrap()]
            .as_deref(),
            Some("2010-06-01")
        );
    })
    .await;
}

pub(super) async fn rows_stream_in_member_id_order_and_agree_with_the_count(kind: Kind) {
    // Written in reverse so that only ORDER BY can put them in order.
    let members: Vec<_> = synthetic::generate(3_000, 11)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    run(kind, members, |fx| async move {
        let register = fx.open().await;
        let f = Filter::district(DistrictCode::parse("Stockholm").unwrap());
        let got = ids(&register, &f, ProtectedIdentity::Exclude).await;
        let c = register
            .count(&f, ProtectedIdentity::Exclude, TODAY)
            .await
            .unwrap();
        assert_eq!(got.len() as u64, c.included);
        assert!(got.len() > 500, "spans several streamed batches");
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing member ids"
        );
    })
    .await;
}

pub(super) async fn an_injection_attempt_in_a_branch_name_matches_nothing(kind: Kind) {
    run(kind, vec![member(1), member(2)], |fx| async move {
        let register = fx.open().await;
        let mut f = uppsala();
        f.local_branches = vec!["x' OR '1'='1".into(), "x\" OR \"1\"=\"1".into()];
        f.statuses = vec!["active'; DROP TABLE medlemmar; --".into()];
        assert!(
            ids(&register, &f, ProtectedIdentity::Include)
                .await
                .is_empty()
        );
        let c = register
            .count(&f, ProtectedIdentity::Include, TODAY)
            .await
            .unwrap();
        assert_eq!(c, Counts::default());
        assert_eq!(
            ids(&register, &uppsala(), ProtectedIdentity::Exclude).await,
            vec![1, 2]
        );
    })
    .await;
}

pub(super) async fn a_missing_table_or_column_is_named_in_one_sentence(kind: Kind) {
    run(kind, vec![member(1)], |fx| async move {
        let mut columns = synthetic::demo_columns();
        columns.insert("phone".into(), "telefonnummer".into());
        let err = Register::open(&fx.config_with(columns)).await.unwrap_err().to_string();
        let want = format!(
            "register.columns.phone maps to column `telefonnummer`, which table `{}` does not have (it has: medlemsnr, fornamn,",
            fx.table
        );
        assert!(err.starts_with(&want), "{err}");
        let mut cfg = fx.config();
        cfg.table = "finns_inte".into();
        let err = Register::open(&cfg).await.unwrap_err().to_string();
        assert!(err.contains("`finns_inte`") && err.contains("register.table"), "{err}");
    })
    .await;
}

pub(super) async fn requests_for_unmapped_duplicate_or_no_fields_are_refused(kind: Kind) {
    run(kind, vec![member(1)], |fx| async move {
        let mut columns = synthetic::demo_columns();
        columns.remove("email");
        columns.remove("birth_date");
        let register = Register::open(&fx.config_with(columns)).await.unwrap();
        register.ping().await.unwrap();
        let rows = |fields: &[Field]| {
            register
                .rows(&uppsala(), fields, ProtectedIdentity::Exclude, TODAY)
                .err()
        };
        assert!(rows(&[Field::Email]).unwrap().to_string().contains("email"));
        assert!(matches!(
            rows(&[Field::City, Field::City]),
            Some(Error::DuplicateField(Field::City))
        ));
        assert!(matches!(rows(&[]), Some(Error::NoFields)));
        let mut f = uppsala();
        f.age = Some(AgeBand::new(18, 30).unwrap());
        let err = register
            .count(&f, ProtectedIdentity::Exclude, TODAY)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("birth_date"), "{err}");
    })
    .await;
}

pub(super) async fn the_check_report_counts_districts_and_unknown_flags_and_warns_about_write_access(
    kind: Kind,
) {
    let members = vec![
        member(1),
        member(2),
        with(3, |m| m.protected_identity = None),
        with(4, |m| {
            m.district = "Gotland".into();
            m.protected_identity = Some(true);
        }),
        with(5, |m| m.district = "Gotland".into()),
    ];
    run(kind, members, |fx| async move {
        let register = fx.open().await;
        let report = register.check_report().await.unwrap();
        let districts = vec![
            (Some("Gotland".to_owned()), 2),
            (Some("Uppsala".to_owned()), 3),
        ];
        assert_eq!(report.districts, districts);
        assert_eq!(
            (
                report.total_members,
                report.protected,
                report.protected_null
            ),
            (5, 1, 1)
        );
        assert_eq!(
            report.writable,
            Some(true),
            "the test credentials can write"
        );
        assert!(
            report.warnings.iter().any(|w| w.contains("SELECT only")),
            "{:?}",
            report.warnings
        );
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("treated as protected"))
        );
        let text = report.to_string();
        assert!(
            text.contains("skyddad_identitet") && text.contains("Gotland"),
            "{text}"
        );
        assert_eq!(
            register.backend(),
            match kind {
                Kind::Sqlite => "sqlite",
                Kind::Postgres => "postgres",
                Kind::MariaDb => "mariadb",
            }
        );
    })
    .await;
}

/// A request's one-statement survey gives exactly what the three reads it replaces give:
/// `has_district`, whether each chosen branch and status is among `choices` (blank values
/// never are; misspelt ones are not), and `count`, for every kind of condition, protected
/// members and missing consents included.
pub(super) async fn a_survey_answers_as_the_separate_reads_do(kind: Kind) {
    let mut members = protection_and_consent_members();
    members.extend([
        with(11, |m| m.local_branch = "Tierp".into()),
        with(12, |m| {
            m.local_branch = "Tierp".into();
            m.membership_status = "resigned".into();
        }),
        with(13, |m| m.local_branch = " ".into()),
        with(14, |m| m.joined_on = date!(2024 - 02 - 29)),
        with(15, |m| m.birth_date = date!(2008 - 05 - 17)),
    ]);
    run(kind, members, |fx| async move {
        let register = fx.open().await;
        let mut filters = vec![uppsala()];
        let mut f = uppsala();
        f.local_branches = vec!["Tierp".into()];
        filters.push(f.clone());
        f.statuses = vec!["active".into(), "resigned".into()];
        filters.push(f);
        let mut f = uppsala();
        f.require_consent = vec![ConsentFlag::Sms, ConsentFlag::Email];
        f.statuses = vec!["active".into()];
        filters.push(f);
        let mut f = uppsala();
        f.joined_from = Some(date!(2020 - 01 - 01));
        filters.push(f);
        let mut f = uppsala();
        f.age = Some(AgeBand::new(16, 30).unwrap());
        filters.push(f);
        let mut f = uppsala();
        f.local_branches = vec!["Tierpp".into(), "Tierp".into(), " ".into()];
        f.statuses = vec!["active".into(), "paused".into()];
        filters.push(f);
        filters.push(Filter::district(DistrictCode::parse("Gotland").unwrap()));
        filters.push(Filter::district(DistrictCode::parse("Skåne").unwrap()));
        for filter in &filters {
            for protected in [ProtectedIdentity::Exclude, ProtectedIdentity::Include] {
                let survey = register.survey(filter, protected, TODAY).await.unwrap();
                let count = register.count(filter, protected, TODAY).await.unwrap();
                assert_eq!(survey.counts, count, "{filter:?} {protected:?}");
                let has = register.has_district(&filter.district).await.unwrap();
                assert_eq!(survey.holds_members, has, "{filter:?}");
                let choices = register.choices(&filter.district).await.unwrap();
                let chosen = [
                    (Field::LocalBranch, &filter.local_branches),
                    (Field::MembershipStatus, &filter.statuses),
                ];
                for (field, values) in chosen {
                    for v in values {
                        let held = choices.contains(field, v);
                        assert_eq!(survey.holds(field, v), held, "{field} {v:?} {filter:?}");
                    }
                }
            }
        }
        let mut misspelt = uppsala();
        misspelt.local_branches = vec!["Tierp".into(), "Tierpp".into(), " ".into()];
        misspelt.statuses = vec!["paused".into(), "active".into()];
        let survey = register
            .survey(&misspelt, ProtectedIdentity::Include, TODAY)
            .await
            .unwrap();
        assert_eq!(
            survey.not_held,
            [
                (Field::LocalBranch, "Tierpp".to_owned()),
                (Field::LocalBranch, " ".to_owned()),
                (Field::MembershipStatus, "paused".to_owned()),
            ]
        );
        let all = register
            .survey(&uppsala(), ProtectedIdentity::Include, TODAY)
            .await
            .unwrap();
        assert!(all.not_held.is_empty());
        assert_eq!(all.counts.included, 11);
    })
    .await;
}

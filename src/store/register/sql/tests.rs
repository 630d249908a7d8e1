use super::*;

fn text(sql: &Sql) -> String {
    sql.pieces
        .iter()
        .map(|p| match p {
            Piece::Sql(s) => s.clone(),
            Piece::Bind(_) | Piece::Key(_) => "<?>".to_owned(),
        })
        .collect()
}

fn query() -> RowQuery {
    RowQuery {
        table: "public.medlemmar".into(),
        columns: vec![("medlemsnr".into(), ColumnKind::Text)],
        conditions: vec![
            Condition::Equals {
                column: "distrikt".into(),
                value: Value::Text("x' OR '1'='1".into()),
            },
            Condition::OneOf {
                column: "lokalforening".into(),
                values: vec![],
            },
            Condition::IsFalse("skyddad".into()),
        ],
        order_by: "medlemsnr".into(),
    }
}

#[test]
fn filter_values_are_bound_never_spliced_into_the_text() {
    let sql = rows_sql(Backend::Postgres, &query());
    let t = text(&sql);
    assert_eq!(
        t,
        "SELECT \"medlemsnr\"::text AS \"v0\" FROM \"public\".\"medlemmar\" WHERE (\"distrikt\" = <?>) \
         AND (LOWER(\"skyddad\"::text) IN ('0', 'f', 'false')) ORDER BY \"medlemsnr\""
    );
    assert!(!t.contains("OR '1'"));
}

#[test]
fn mariadb_identifiers_are_quoted_with_backticks() {
    let t = text(&rows_sql(Backend::MariaDb, &query()));
    assert!(
        t.contains("CAST(`medlemsnr` AS CHAR)") && t.contains("`public`.`medlemmar`"),
        "{t}"
    );
}

#[test]
fn the_count_statement_without_consents_or_exclusion_counts_everyone_as_included() {
    let q = CountQuery {
        table: "m".into(),
        conditions: vec![],
        exclude_protected: None,
        require_true: vec![],
    };
    let t = text(&count_sql(Backend::Sqlite, &q));
    assert!(
        t.starts_with("SELECT COUNT(CASE WHEN 1 = 1 THEN CASE WHEN 1 = 1 THEN 1 END END)"),
        "{t}"
    );
}

#[test]
fn booleans_and_dates_are_normalised_whatever_the_backend_stores() {
    for (raw, want) in [
        ("1", "true"),
        ("t", "true"),
        ("TRUE", "true"),
        ("0", "false"),
        ("f", "false"),
    ] {
        assert_eq!(
            normalise("c", ColumnKind::Bool, Some(raw.into()))
                .unwrap()
                .unwrap(),
            want
        );
    }
    assert_eq!(
        normalise("c", ColumnKind::Date, Some("2001-02-03 00:00:00".into()))
            .unwrap()
            .unwrap(),
        "2001-02-03"
    );
    let err = normalise("skyddad", ColumnKind::Bool, Some("Anna".into())).unwrap_err();
    assert!(err.to_string().contains("skyddad") && !err.to_string().contains("Anna"));
    assert!(normalise("d", ColumnKind::Date, Some("03/02/2001".into())).is_err());
    assert_eq!(normalise("d", ColumnKind::Date, None).unwrap(), None);
}

#[test]
fn the_cli_renderings_escape_quotes_in_values_and_bind_nothing() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = render_for_cli(backend, &query());
        assert!(t.contains("\"distrikt\" = 'x'' OR ''1''=''1'"), "{t}");
        assert!(!t.contains('$') && !t.contains('?'), "{t}");
    }
}

#[test]
fn mariadb_grants_that_allow_writing_are_recognised() {
    let yes = [
        "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION",
        "GRANT SELECT, INSERT ON `test`.* TO `u`@`%`",
        "GRANT UPDATE (`status`) ON `test`.`medlemmar` TO `u`@`%`",
    ];
    for g in yes {
        assert!(grant_allows_writing(g, "test", "medlemmar"), "{g}");
    }
    let no = [
        "GRANT SELECT ON `test`.* TO `u`@`%`",
        "GRANT INSERT ON `other`.* TO `u`@`%`",
        "GRANT USAGE ON *.* TO `u`@`%`",
        "GRANT `reader` TO `u`@`%`",
        "GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION",
    ];
    for g in no {
        assert!(!grant_allows_writing(g, "test", "medlemmar"), "{g}");
    }
}

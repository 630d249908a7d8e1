use std::collections::BTreeMap;

use super::*;
use crate::policy::parse_catalogue;

const SHIPPED: &str = include_str!("../../../../../../policies/purposes.toml");

fn phone() -> Purpose {
    let purposes = parse_catalogue(SHIPPED).unwrap_or_default();
    purposes
        .into_iter()
        .find(|p| p.id.as_str() == "phone-canvassing")
        .unwrap_or_else(|| panic!("the shipped catalogue has phone canvassing"))
}

fn rendered(lang: Lang, values: &Values, problems: Problems) -> String {
    let mut ctx = page_context(lang, "token", true, values, problems);
    let lang_ctx = context! { lang => lang.code(), other_lang => "x" };
    ctx = minijinja::value::merge_maps([lang_ctx, ctx]);
    crate::web::render::Pages::new()
        .render("admin_purpose.html", ctx)
        .unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn a_purpose_in_force_fills_every_field_of_the_form_in_either_language() {
    let values = Values::of(&phone());
    assert_eq!(
        (
            values.lifetime_amount.as_str(),
            values.lifetime_unit.as_str()
        ),
        ("3", "days")
    );
    for lang in [Lang::Sv, Lang::En] {
        let html = rendered(lang, &values, Problems::default());
        for shown in [
            "name=\"max_rows\" inputmode=\"numeric\" value=\"5000\"",
            "value=\"phone\" checked",
            "value=\"consent_phone\" checked",
            "<option value=\"days\" selected>",
            "value=\"2\" checked",
            "name=\"name_en\" lang=\"en\" value=\"Phone canvassing\"",
            "action=\"/admin/purposes/remove\"",
        ] {
            assert!(html.contains(shown), "{shown} in {}", lang.code());
        }
        assert!(!html.contains("value=\"birth_date\" checked"));
        assert!(!html.contains("purpose_form."), "a key without its text");
        assert!(!html.contains("aria-invalid"), "no problem, nothing marked");
    }
}

#[test]
fn a_problem_is_told_beside_its_field_and_tied_to_it() {
    let mut values = Values::of(&phone());
    values.max_rows = "0".into();
    let problems = Problems {
        fields: BTreeMap::from([
            ("max_rows".to_owned(), "Högst noll".to_owned()),
            ("formats".to_owned(), "Inget sätt".to_owned()),
        ]),
        summary: Some("Rätta".into()),
        removal: None,
    };
    let html = rendered(Lang::Sv, &values, problems);
    assert!(html.contains("<p class=\"error\" id=\"max_rows-error\">Högst noll</p>"));
    assert!(html.contains(
        "name=\"max_rows\" inputmode=\"numeric\" value=\"0\" autocomplete=\"off\" aria-describedby=\"max_rows-error\" aria-invalid=\"true\""
    ));
    assert!(html.contains("<fieldset id=\"formats\" aria-describedby=\"formats-error\">"));
    assert!(html.contains("<p class=\"error\" role=\"alert\">Rätta</p>"));
}

#[test]
fn numbers_are_read_as_typed_and_a_long_lifetime_is_left_for_the_check() {
    let mut values = Values::of(&phone());
    values.max_rows = "5 000".into();
    values.lifetime_amount = "31".into();
    let draft = values.draft().unwrap_or_default();
    assert_eq!(draft.max_rows, 5000);
    assert_eq!(draft.max_lifetime_minutes, 31 * 1440, "never clamped");
    assert_eq!(draft.id, "phone-canvassing");
    values.lifetime_unit = "hours".into();
    assert_eq!(
        values.draft().unwrap_or_default().max_lifetime_minutes,
        31 * 60
    );
    values.auto_max_rows = "tvåhundra".into();
    values.two_approvers_min_rows = String::new();
    let wrong = values.draft().err().unwrap_or_default();
    assert_eq!(
        wrong,
        [
            (PurposeKey::AutoMaxRows, "purpose_form.not_a_number"),
            (
                PurposeKey::TwoApproversMinRows,
                "purpose_form.required_number"
            )
        ]
    );
}

#[test]
fn the_posted_pairs_keep_repeated_choices_and_line_breaks() {
    let pairs = [
        ("original", ""),
        ("id", "kampanj"),
        ("allowed_fields", "first_name"),
        ("allowed_fields", "phone"),
        ("formats", "csv"),
        ("description_sv", "Rad ett\r\nrad två"),
        ("phishing_resistant", "yes"),
    ];
    let values = Values::from_pairs(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    assert_eq!(values.allowed_fields, ["first_name", "phone"]);
    assert_eq!(values.description_sv, "Rad ett\nrad två");
    assert!(values.phishing_resistant && values.edited().is_none());
}

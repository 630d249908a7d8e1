use proptest::prelude::*;
use time::macros::date;

use super::*;
use crate::config::RegisterConfig;

fn mapping(columns: &[(&str, &str)]) -> Mapping {
    let cfg = RegisterConfig {
        url: secrecy::SecretString::from("sqlite:/nonexistent"),
        table: "medlemmar".into(),
        columns: columns
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        connect_timeout_secs: 5,
        max_connections: 1,
        statuses: Default::default(),
        limits: Default::default(),
    };
    Mapping::from_config(&cfg).unwrap()
}

fn minimal() -> Mapping {
    mapping(&[
        ("member_id", "id"),
        ("district", "d"),
        ("protected_identity", "p"),
    ])
}

fn district() -> DistrictCode {
    DistrictCode::parse("Västra Götaland").unwrap()
}

#[test]
fn district_codes_accept_swedish_letters_and_refuse_punctuation() {
    for ok in ["Skåne", "Östergötland", "Norr-botten_2", "Västra Götaland"] {
        assert!(DistrictCode::parse(ok).is_ok(), "{ok}");
    }
    let too_long = "a".repeat(65);
    for bad in [
        "",
        " Skåne",
        "Skåne ",
        "x' OR '1'='1",
        "a;b",
        too_long.as_str(),
    ] {
        assert!(DistrictCode::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn an_invalid_district_code_error_does_not_echo_the_input() {
    let msg = DistrictCode::parse("secret;value").unwrap_err().to_string();
    assert!(!msg.contains("secret"), "{msg}");
}

#[test]
fn an_age_band_with_min_above_max_or_beyond_130_is_refused() {
    assert!(AgeBand::new(30, 20).is_err());
    assert!(AgeBand::new(0, 131).is_err());
    assert!(AgeBand::new(18, 130).is_ok());
}

#[test]
fn a_birthday_today_puts_the_member_in_the_band() {
    let (after, until) = AgeBand::new(18, 25)
        .unwrap()
        .birth_date_bounds(date!(2026 - 05 - 17))
        .unwrap();
    assert_eq!(until, date!(2008 - 05 - 17));
    assert_eq!(after, date!(2000 - 05 - 17));
}

#[test]
fn on_29_february_the_year_arithmetic_falls_back_to_28_february() {
    assert_eq!(
        years_before(date!(2028 - 02 - 29), 18).unwrap(),
        date!(2010 - 02 - 28)
    );
    assert_eq!(
        years_before(date!(2028 - 02 - 29), 4).unwrap(),
        date!(2024 - 02 - 29)
    );
}

#[test]
fn too_many_branches_are_refused() {
    let mut f = Filter::district(district());
    f.local_branches = (0..=MAX_LIST).map(|i| format!("b{i}")).collect();
    let m = mapping(&[
        ("member_id", "id"),
        ("district", "d"),
        ("protected_identity", "p"),
        ("local_branch", "b"),
    ]);
    assert!(
        f.validate(&m)
            .unwrap_err()
            .to_string()
            .contains("more than 100")
    );
}

#[test]
fn joined_from_after_joined_to_is_refused() {
    let mut f = Filter::district(district());
    f.joined_from = Some(date!(2020 - 01 - 02));
    f.joined_to = Some(date!(2020 - 01 - 01));
    let m = mapping(&[
        ("member_id", "id"),
        ("district", "d"),
        ("protected_identity", "p"),
        ("joined_on", "j"),
    ]);
    assert!(matches!(f.validate(&m), Err(Error::InvalidFilter(_))));
}

#[test]
fn a_filter_on_an_unmapped_field_names_the_field() {
    let mut f = Filter::district(district());
    f.age = Some(AgeBand::new(18, 30).unwrap());
    let msg = f.validate(&minimal()).unwrap_err().to_string();
    assert!(msg.contains("birth_date"), "{msg}");
    let mut f = Filter::district(district());
    f.require_consent = vec![ConsentFlag::Sms];
    let msg = f.validate(&minimal()).unwrap_err().to_string();
    assert!(msg.contains("consent_sms"), "{msg}");
}

#[test]
fn the_district_value_becomes_a_bound_value_not_text() {
    let conditions = Filter::district(district())
        .conditions(&minimal(), date!(2026 - 01 - 01))
        .unwrap();
    assert_eq!(
        conditions,
        vec![Condition::Equals {
            column: "d".into(),
            value: Value::Text("Västra Götaland".into())
        }]
    );
}

#[test]
fn protected_identity_is_excluded_unless_asked_otherwise() {
    assert_eq!(ProtectedIdentity::default(), ProtectedIdentity::Exclude);
}

/// The independent oracle: count whole years, with a 29 February birthday falling on
/// 1 March in common years.
fn age_on(birth: Date, today: Date) -> i32 {
    let mut age = today.year() - birth.year();
    let (mut month, mut day) = (birth.month(), birth.day());
    if month == Month::February && day == 29 && !time::util::is_leap_year(today.year()) {
        (month, day) = (Month::March, 1);
    }
    if (today.month(), today.day()) < (month, day) {
        age -= 1;
    }
    age
}

fn any_date() -> impl Strategy<Value = Date> {
    (1900i32..2100, 1u16..=366)
        .prop_filter_map("valid ordinal", |(y, d)| Date::from_ordinal_date(y, d).ok())
}

proptest! {
    #[test]
    fn the_birth_date_bounds_agree_with_counting_birthdays(
        birth in any_date(), today in any_date(), min in 0u8..=100, span in 0u8..=30,
    ) {
        prop_assume!(birth <= today);
        let band = AgeBand::new(min, min + span).unwrap();
        let (after, until) = band.birth_date_bounds(today).unwrap();
        let age = age_on(birth, today);
        let in_band = age >= i32::from(band.min) && age <= i32::from(band.max);
        prop_assert_eq!(birth > after && birth <= until, in_band, "age {}", age);
    }

    #[test]
    fn district_code_parsing_never_accepts_quotes(s in "\\PC{0,80}") {
        if let Ok(code) = DistrictCode::parse(&s) {
            prop_assert!(!code.as_str().contains(['\'', '"', ';', '`']));
        }
    }
}

//! The API description's patterns held against the parsers they describe.

use super::*;
use proptest::prelude::*;

/// The schema's pattern, `minLength` and `maxLength` as a matcher, with the regex engine the
/// fuzzer's validator uses (`fancy-regex`): the patterns are ECMA-262 that it reads alike.
fn matcher(schema: RefOr<Schema>) -> impl Fn(&str) -> bool {
    let RefOr::T(Schema::Object(o)) = schema else {
        unreachable!("a string schema")
    };
    let re = fancy_regex::Regex::new(&o.pattern.unwrap_or_default()).unwrap();
    let (min, max) = (o.min_length, o.max_length);
    move |s: &str| {
        let count = s.chars().count();
        re.is_match(s).unwrap() && min.is_none_or(|m| count >= m) && max.is_none_or(|m| count <= m)
    }
}

fn parses<T, E>(r: Result<T, E>) -> bool {
    r.is_ok()
}

#[test]
fn each_pattern_agrees_with_its_parser_on_the_edges() {
    let purpose = matcher(PurposeId::schema());
    for s in [
        "a",
        "district-assembly-invitation",
        "a1-b2",
        "a-",
        "a--b",
        "-a",
        "1a",
        "A",
        "",
    ] {
        assert_eq!(
            purpose(s),
            parses(crate::policy::PurposeId::parse(s)),
            "{s:?}"
        );
    }
    let district = matcher(District::schema());
    let (max, over) = ("x".repeat(64), "x".repeat(65));
    for s in [
        "Uppsala",
        "Västra Götaland",
        "Skåne_1-2",
        " Uppsala",
        "Uppsala ",
        "",
        "a",
        "Öland",
        "Up/psala",
        "Ü",
        max.as_str(),
        over.as_str(),
    ] {
        assert_eq!(
            district(s),
            parses(crate::nouns::DistrictCode::parse(s)),
            "{s:?}"
        );
    }
    let username = matcher(Username::schema());
    for s in [
        "anna",
        " Anna\t",
        "åsa",
        "ΑΒΓ",
        "a.b-c_d",
        "ab",
        "İlker",
        "an na",
        "anna!",
        "١٢٣",
        max.as_str(),
        over.as_str(),
    ] {
        assert_eq!(
            username(s),
            parses(crate::nouns::Username::parse(s)),
            "{s:?}"
        );
    }
    let justification = matcher(Justification::schema());
    let long = "y".repeat(1000);
    let too_long = "y".repeat(1001);
    let padded = format!("{long} ");
    for s in [
        "ten chars!",
        " \n ten chars! \u{3000}",
        "nine char",
        "two\nlines ok",
        "a\u{7}bell ring",
        "\u{85}ten chars!\u{85}",
        "ten \u{202E}chars!",
        "ten \u{2066}chars!\u{2069}",
        "ten chars!\u{202A}",
        "ten\u{2028}chars!",
        "שלום עולם!\u{200F}",
        long.as_str(),
        too_long.as_str(),
        padded.as_str(),
    ] {
        assert_eq!(
            justification(s),
            parses(crate::extract::request::check_justification(s)),
            "{s:?}"
        );
    }
    let member_ref = matcher(MemberRef::schema());
    for s in [
        "0123456789abcdef0123456789ABCDEF",
        " 0123456789abcdef0123456789abcdef ",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdeg",
    ] {
        assert_eq!(
            member_ref(s),
            parses(crate::oversight::pseudonyms::parse_member_ref(s)),
            "{s:?}"
        );
    }
    let role = matcher(RoleGrant::schema());
    for s in [
        "staff:Uppsala",
        "auditor:*",
        "admin:Västra Götaland",
        "boss:Uppsala",
        "staff:",
        "staff: Uppsala",
        "staff:*x",
    ] {
        assert_eq!(
            role(s),
            parses(s.parse::<crate::nouns::RoleGrant>()),
            "{s:?}"
        );
    }
}

#[test]
fn the_field_names_are_exactly_the_register_fields() {
    let RefOr::T(Schema::Object(o)) = FieldName::schema() else {
        unreachable!("a string schema")
    };
    let names: Vec<String> = o
        .enum_values
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), Field::ALL.len());
    assert!(names.iter().all(|n| n.parse::<Field>().is_ok()));
}

/// Text with the characters the trimming rules care about: white space the trim removes
/// and some it does not, control characters, line breaks and ordinary letters.
fn tricky_text(max: usize) -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        Just(' '),
        Just('\t'),
        Just('\n'),
        Just('\r'),
        Just('\u{85}'),
        Just('\u{a0}'),
        Just('\u{2028}'),
        Just('\u{3000}'),
        Just('\u{feff}'),
        Just('\u{7}'),
        Just('\u{9f}'),
        Just('a'),
        Just('Z'),
        Just('ö'),
        Just('-'),
        Just('.'),
        Just('7'),
        Just('İ'),
        Just('Ⅻ'),
        Just('\u{2029}'),
        Just('\u{202A}'),
        Just('\u{202E}'),
        Just('\u{2066}'),
        Just('\u{2069}'),
        Just('\u{200F}'),
    ];
    proptest::collection::vec(chars, 0..max).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #[test]
    fn a_purpose_id_matches_the_pattern_exactly_when_the_parser_takes_it(
        s in "[a-z0-9A-Z_ -]{0,70}"
    ) {
        let purpose = matcher(PurposeId::schema());
        prop_assert_eq!(purpose(&s), parses(crate::policy::PurposeId::parse(&s)));
    }

    #[test]
    fn a_district_matches_the_pattern_exactly_when_the_parser_takes_it(
        s in "[a-zA-Z0-9åäöÅÄÖüé _./-]{0,70}"
    ) {
        let district = matcher(District::schema());
        prop_assert_eq!(district(&s), parses(crate::nouns::DistrictCode::parse(&s)));
    }

    #[test]
    fn an_email_matches_the_pattern_exactly_when_an_account_takes_it(
        s in proptest::collection::vec(
            prop_oneof![
                Just('@'), Just('.'), Just('a'), Just('ö'), Just(' '), Just('<'), Just('\u{85}'),
                Just('\u{7}'), Just('\u{3000}'), Just('\u{feff}'), Just('-'),
            ],
            0..12,
        ).prop_map(|v| v.into_iter().collect::<String>())
    ) {
        let email = matcher(Email::schema());
        // What `POST /api/v1/users` does: white space only is no address, anything else is checked.
        let taken = s.trim().is_empty() || crate::auth::accounts::check_email(&s).is_ok();
        prop_assert_eq!(email(&s), taken);
    }

    #[test]
    fn a_long_email_is_refused_by_its_length_alone(n in 250usize..260) {
        let s = format!("{}@example.org", "ö".repeat(n - 12));
        let email = matcher(Email::schema());
        prop_assert_eq!(email(&s), crate::auth::accounts::check_email(&s).is_ok());
    }

    #[test]
    fn a_username_matches_the_pattern_exactly_when_the_parser_takes_it(s in tricky_text(70)) {
        let username = matcher(Username::schema());
        prop_assert_eq!(username(&s), parses(crate::nouns::Username::parse(&s)));
    }

    #[test]
    fn trimmed_texts_match_their_patterns_exactly_when_the_library_takes_them(
        s in tricky_text(16)
    ) {
        let freeze = matcher(FreezeReason::schema());
        prop_assert_eq!(freeze(&s), parses(crate::extract::expire::check_freeze_reason(&s)));
        let reveal = matcher(RevealReason::schema());
        prop_assert_eq!(reveal(&s), parses(crate::oversight::pseudonyms::check_reason(&s)));
        let policy = matcher(PolicyComment::schema());
        prop_assert_eq!(policy(&s), parses(crate::policy::source::check_comment(&s)));
        let name = matcher(DisplayName::schema());
        prop_assert_eq!(name(&s), parses(crate::auth::accounts::check_display_name(&s)));
        let member = matcher(MemberNumber::schema());
        prop_assert_eq!(member(&s), parses(crate::oversight::disclosures::check_member_id(&s)));
        let comment = matcher(FlagComment::schema());
        prop_assert_eq!(comment(&s), parses(crate::oversight::followup::check_comment(&s)));
        let justification = matcher(Justification::schema());
        prop_assert_eq!(
            justification(&s),
            parses(crate::extract::request::check_justification(&s))
        );
        use crate::extract::lifecycle::{Verdict, check_comment};
        let approval = matcher(ApprovalComment::schema());
        prop_assert_eq!(approval(&s), parses(check_comment(Verdict::Approve, &s)));
        let denial = matcher(DenialComment::schema());
        prop_assert_eq!(denial(&s), parses(check_comment(Verdict::Deny, &s)));
        let value = matcher(FilterValue::schema());
        prop_assert_eq!(value(&s), parses(crate::register::FILTER_VALUE.check_exact(&s)));
    }

    #[test]
    fn an_extract_id_matches_the_pattern_exactly_when_the_parser_takes_it(
        s in "[0-9a-fA-Fg]{30,34}"
    ) {
        let id = matcher(ExtractId::schema());
        prop_assert_eq!(id(&s), parses(crate::extract::ExtractId::parse(&s)));
    }
}

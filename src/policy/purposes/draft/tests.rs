use super::*;
use crate::policy::purposes::parse_catalogue;

const SHIPPED: &str = include_str!("../../../../policies/purposes.toml");

fn id(s: &str) -> PurposeId {
    PurposeId::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn shipped(n: usize) -> PurposeDraft {
    let purposes = parse_catalogue(SHIPPED).unwrap_or_else(|e| panic!("{e}"));
    PurposeDraft::from(&purposes[n])
}

/// The purposes without the line each starts on (which moves when a block changes size).
fn values(text: &str) -> Vec<Purpose> {
    parse_catalogue(text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .into_iter()
        .map(|p| Purpose { line: 0, ..p })
        .collect()
}

#[test]
fn every_shipped_purpose_written_back_from_its_draft_is_the_same_purpose() {
    let mut text = SHIPPED.to_owned();
    for n in 0..4 {
        let draft = shipped(n);
        text = with_purpose(&text, Some(&id(&draft.id)), &draft).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(values(&text), values(SHIPPED));
}

#[test]
fn a_replaced_purpose_changes_only_its_own_block() {
    let mut draft = shipped(1);
    draft.max_rows = 4999;
    let text = with_purpose(SHIPPED, Some(&id("phone-canvassing")), &draft).unwrap_or_default();
    let before: Vec<&str> = SHIPPED.lines().collect();
    let after: Vec<&str> = text.lines().collect();
    let start = before
        .iter()
        .position(|l| l.contains("\"phone-canvassing\""))
        .unwrap_or(0);
    // Everything up to the block's header, and from the next purpose on, is the same text.
    assert_eq!(before[..start - 1], after[..start - 1]);
    let next = |lines: &[&str]| {
        let from = lines
            .iter()
            .position(|l| l.contains("\"membership-fee-reminder\""))
            .unwrap_or(0);
        lines[from - 2..].join("\n")
    };
    assert_eq!(next(&before), next(&after));
    let purposes = values(&text);
    assert_eq!(purposes[1].max_rows, 4999);
    assert_eq!(PurposeDraft::from(&purposes[1]), draft);
}

#[test]
fn any_text_is_quoted_so_that_it_reads_back_as_typed() {
    let mut draft = shipped(0);
    draft.name_sv = "Kallelse \"extra\" \\ 'stämma'".into();
    draft.description_sv = "Rad ett\nrad två med \"\"\" tre citattecken # ingen kommentar".into();
    draft.valid_from = "2027-08-01".into();
    draft.valid_to = "2027-09-13".into();
    draft.phishing_resistant = true;
    let text = with_purpose(SHIPPED, Some(&id(&draft.id)), &draft).unwrap_or_default();
    assert!(
        text.contains("valid_from = 2027-08-01"),
        "a bare date:\n{text}"
    );
    let purposes = values(&text);
    assert_eq!(PurposeDraft::from(&purposes[0]), draft);
    assert!(crate::policy::factors::parse(&text).is_ok_and(|r| r.purposes.len() == 1));
}

#[test]
fn a_new_purpose_is_added_at_the_end_and_a_removed_one_leaves_no_trace() {
    let mut draft = shipped(1);
    draft.id = "phone-calls".into();
    let added = with_purpose(SHIPPED, None, &draft).unwrap_or_default();
    assert!(added.starts_with(SHIPPED), "the rest is kept as it was");
    let purposes = values(&added);
    assert_eq!(purposes.len(), 7);
    assert_eq!(purposes[6].id.as_str(), "phone-calls");
    let removed = without_purpose(&added, &id("phone-calls")).unwrap_or_default();
    assert_eq!(removed, SHIPPED);
    let fewer = without_purpose(SHIPPED, &id("phone-canvassing")).unwrap_or_default();
    assert_eq!(values(&fewer).len(), 5);
    assert!(
        !fewer.contains("\n\n\n"),
        "one blank line between blocks:\n{fewer}"
    );
}

#[test]
fn a_table_after_the_last_purpose_and_comments_before_the_next_stay() {
    let block = |name: &str| {
        let mut d = shipped(0);
        d.id = name.into();
        d.to_toml().unwrap_or_default()
    };
    let text = format!(
        "{}# about b\n{}\n[second_factor]\nphishing_resistant_roles = []\n",
        block("a"),
        block("b")
    );
    let mut draft = shipped(0);
    draft.id = "a".into();
    draft.max_rows = 7;
    let replaced = with_purpose(&text, Some(&id("a")), &draft).unwrap_or_default();
    assert!(
        replaced.contains("# about b\n[[purpose]]\nid = \"b\""),
        "{replaced}"
    );
    assert!(replaced.contains("max_rows = 7"), "{replaced}");
    draft.id = "b".into();
    let last = with_purpose(&text, Some(&id("b")), &draft).unwrap_or_default();
    assert!(
        last.ends_with("\n[second_factor]\nphishing_resistant_roles = []\n"),
        "{last}"
    );
    let gone = without_purpose(&text, &id("b")).unwrap_or_default();
    assert!(
        gone.contains("[second_factor]") && !gone.contains("\"b\""),
        "{gone}"
    );
}

#[test]
fn an_unknown_purpose_cannot_be_replaced_or_removed() {
    let draft = shipped(0);
    assert!(with_purpose(SHIPPED, Some(&id("no-such")), &draft).is_err());
    assert!(without_purpose(SHIPPED, &id("no-such")).is_err());
}
/// Every problem the catalogue check can find, each made the way a form would make it, comes
/// back as its kind with the key and the purpose at fault.
#[test]
fn every_problem_the_check_finds_names_its_kind_its_key_and_its_purpose() {
    use crate::policy::{PurposeFault, PurposeKey as K, PurposeProblem as P};
    type Edit = fn(&mut PurposeDraft);
    let cases: [(P, K, Edit); 24] = [
        (P::IdNotSlug, K::Id, |d| d.id = "Kallelse".into()),
        (P::TextEmpty, K::NameEn, |d| d.name_en = String::new()),
        (P::TextRefused, K::NameSv, |d| {
            d.name_sv = "a\u{202e}b".into()
        }),
        (P::FieldUnknown, K::AllowedFields, |d| {
            d.allowed_fields.push("shoe_size".into())
        }),
        (P::FieldTwice, K::AllowedFields, |d| {
            d.allowed_fields.push("first_name".into())
        }),
        (P::FieldsEmpty, K::AllowedFields, |d| {
            d.allowed_fields.clear()
        }),
        (P::ConsentUnknown, K::RequiredConsents, |d| {
            d.required_consents = vec!["email".into()]
        }),
        (P::MaxRowsZero, K::MaxRows, |d| d.max_rows = 0),
        (P::LifetimeOutOfRange, K::MaxLifetimeMinutes, |d| {
            d.max_lifetime_minutes = 43_201
        }),
        (P::AutoAboveMax, K::AutoMaxRows, |d| {
            d.auto_max_rows = d.max_rows + 1
        }),
        (P::TwoNotAboveAuto, K::TwoApproversMinRows, |d| {
            d.two_approvers_min_rows = d.auto_max_rows
        }),
        (P::SensitiveApproversZero, K::SensitiveApprovers, |d| {
            d.sensitive_approvers = 0
        }),
        (P::SensitiveApproversAboveTwo, K::SensitiveApprovers, |d| {
            d.sensitive_approvers = 3
        }),
        (P::FormatsEmpty, K::Formats, |d| d.formats.clear()),
        (P::FormatUnknown, K::Formats, |d| {
            d.formats.push("pdf".into())
        }),
        (P::FormatTwice, K::Formats, |d| d.formats.push("csv".into())),
        (P::OutcomeUnknown, K::Formats, |d| {
            d.formats.push("call_list".into());
            d.call_outcomes = vec!["answered".into()];
        }),
        (P::OutcomesWithoutCallList, K::Formats, |d| {
            d.formats.retain(|f| f != "call_list");
            d.call_outcomes = vec!["reached".into()];
        }),
        (P::DateInvalid, K::ValidTo, |d| {
            d.valid_to = "2027-02-30".into()
        }),
        (P::FromAfterTo, K::ValidFrom, |d| {
            d.valid_from = "2027-09-13".into();
            d.valid_to = "2027-08-01".into();
        }),
        (P::IdTaken, K::Id, |d| d.id = "phone-canvassing".into()),
        (P::ProcessorUnknown, K::Processors, |d| {
            d.processors = vec!["nobody".into()]
        }),
        (P::ProcessorUnknown, K::DoNotCallTo, |d| {
            d.formats.push("call_list".into());
            d.do_not_call_to = Some("nobody".into());
        }),
        (P::DoNotCallWithoutOutcome, K::DoNotCallTo, |d| {
            d.formats.push("call_list".into());
            d.call_outcomes = vec!["reached".into()];
            d.do_not_call_to = Some("medlemsregistret".into());
        }),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (problem, key, edit) in cases {
        let mut draft = shipped(0);
        draft.id = "campaign".into();
        edit(&mut draft);
        let text = with_purpose(SHIPPED, None, &draft).unwrap_or_else(|e| panic!("{e}"));
        let err = parse_catalogue(&text).err();
        let fault = err.as_ref().and_then(|e| e.purpose_fault());
        let expected = PurposeFault {
            problem,
            key: Some(key),
            purpose: Some(draft.id.clone()),
        };
        assert_eq!(fault, Some(&expected), "{problem}: {err:?}");
        seen.insert(problem);
    }
    for (text, problem) in [
        ("[[purpose]\n", P::Unreadable),
        ("[[purpose]]\nid = \"a\"\nmax_row = 1\n", P::Unreadable),
        ("[second_factor]\n", P::NoPurpose),
    ] {
        let err = parse_catalogue(text).err();
        let fault = err.as_ref().and_then(|e| e.purpose_fault());
        assert_eq!(
            fault.map(|f| (f.problem, f.key)),
            Some((problem, None)),
            "{text}"
        );
        seen.insert(problem);
    }
    assert_eq!(
        seen,
        P::ALL.into_iter().collect(),
        "a problem kind without a case"
    );
}

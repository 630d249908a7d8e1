//! Unit tests of the policy module: loading, deciding, approving and failing closed.

use std::str::FromStr;

use time::macros::datetime;

use super::*;
use crate::nouns::RoleGrant;
use crate::nouns::{ConsentFlag, DistrictCode, Field};

pub(super) const MODEL: &str = include_str!("../../policies/model.conf");
pub(super) const PERMISSIONS: &str = include_str!("../../policies/policy.csv");
pub(super) const PURPOSES: &str = include_str!("../../policies/purposes.toml");

pub(super) fn district(code: &str) -> DistrictCode {
    DistrictCode::parse(code).unwrap()
}

fn principal(id: &str, roles: &[&str]) -> Principal {
    Principal::for_tests(
        id,
        roles
            .iter()
            .map(|r| RoleGrant::from_str(r).unwrap())
            .collect(),
    )
}

fn request(purpose: &str, in_district: &str, fields: &[Field], rows: u64) -> ExtractRequest {
    ExtractRequest {
        purpose: PurposeId::parse(purpose).unwrap(),
        district: district(in_district),
        fields: fields.to_vec(),
        lifetime_minutes: 60,
        estimated_rows: rows,
    }
}

async fn shipped() -> Policy {
    Policy::from_parts(MODEL, PERMISSIONS, PURPOSES)
        .await
        .unwrap()
}

const NOW: time::OffsetDateTime = datetime!(2026-11-24 10:00 UTC);
const NAME_PHONE: [Field; 3] = [Field::FirstName, Field::LastName, Field::Phone];

#[tokio::test]
async fn a_small_request_without_sensitive_fields_is_allowed_with_a_grant_that_carries_it() {
    let policy = shipped().await;
    let anna = principal("anna", &["staff:Uppsala"]);
    let req = request("phone-canvassing", "Uppsala", &NAME_PHONE, 150);
    let Decision::Allow(grant) = policy.decide(&anna, &req, NOW).await else {
        panic!("expected allow")
    };
    assert_eq!(grant.user_id(), "anna");
    assert_eq!(grant.fields(), &NAME_PHONE);
    assert_eq!(grant.district().as_str(), "Uppsala");
    assert_eq!(grant.lifetime_minutes(), 60);
    assert_eq!(grant.max_rows(), 200);
    assert_eq!(grant.required_consents(), &[ConsentFlag::Phone]);
    assert_eq!(grant.request_hash(), request_hash("anna", &req));
    assert!(grant.approved_by().is_empty());
}

/// A catalogue with one purpose whose `key = value` line is replaced by `line`.
fn one_purpose_with(key: &str, line: &str) -> String {
    let block = PURPOSES.split("\n[[purpose]]\n").nth(1).unwrap();
    let replaced: Vec<String> = block
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key} =")) {
                line.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    format!("[[purpose]]\n{}", replaced.join("\n"))
}

fn catalogue_error(text: &str) -> (Option<usize>, String) {
    match parse_catalogue(text) {
        Err(Error::Invalid { line, message, .. }) => (line, message),
        other => panic!("expected an invalid catalogue, got {other:?}"),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn the_shipped_catalogue_parses_with_four_purposes_in_both_languages() {
    let purposes = parse_catalogue(PURPOSES).unwrap();
    assert!(purposes.len() >= 4);
    let phone = purposes
        .iter()
        .find(|p| p.id.as_str() == "phone-canvassing")
        .unwrap();
    assert_eq!(phone.required_consents, vec![ConsentFlag::Phone]);
    assert!(!phone.name_sv.is_empty() && !phone.acknowledgement_en.is_empty());
    let recruit = purposes
        .iter()
        .find(|p| p.id.as_str() == "election-worker-recruitment")
        .unwrap();
    assert!(recruit.has_sensitive_fields());
    assert_eq!(recruit.approval.sensitive_approvers, 2);
}

#[test]
fn zero_sensitive_approvers_is_rejected_naming_the_purpose_and_the_line() {
    let text = one_purpose_with("sensitive_approvers", "sensitive_approvers = 0");
    let (line, message) = catalogue_error(&text);
    assert_eq!(line, Some(line_of(&text, "sensitive_approvers = 0")));
    assert!(
        message.contains("district-assembly-invitation"),
        "{message}"
    );
    assert!(
        message.contains("zero approvers for sensitive fields"),
        "{message}"
    );
}

#[test]
fn each_broken_limit_is_rejected_on_its_own_line() {
    let cases = [
        ("max_rows", "max_rows = 0", "max_rows is 0"),
        (
            "max_lifetime_minutes",
            "max_lifetime_minutes = 0",
            "1 to 43200",
        ),
        (
            "max_lifetime_minutes",
            "max_lifetime_minutes = 43201",
            "1 to 43200",
        ),
        ("auto_max_rows", "auto_max_rows = 60000", "above max_rows"),
        (
            "two_approvers_min_rows",
            "two_approvers_min_rows = 1000",
            "must be above",
        ),
        ("sensitive_approvers", "sensitive_approvers = 3", "1 or 2"),
        (
            "allowed_fields",
            "allowed_fields = [\"email\", \"telefon\"]",
            "telefon",
        ),
        (
            "allowed_fields",
            "allowed_fields = [\"email\", \"email\"]",
            "twice",
        ),
        ("allowed_fields", "allowed_fields = []", "empty"),
        (
            "required_consents",
            "required_consents = [\"protected_identity\"]",
            "not a consent",
        ),
        (
            "required_consents",
            "required_consents = [\"samtycke\"]",
            "samtycke",
        ),
        ("formats", "formats = []", "formats is empty"),
        ("formats", "formats = [\"pdf\"]", "pdf"),
        ("id", "id = \"Not A Slug\"", "not a purpose id"),
        ("name_en", "name_en = \" \"", "name_en is empty"),
        (
            "acknowledgement_en",
            "acknowledgement_en = \"I will \u{202E}share the list\u{202C}.\"",
            "change the direction of text",
        ),
        (
            "description_sv",
            "description_sv = \"Ring\\tmedlemmar\"",
            "control characters",
        ),
    ];
    for (key, line, expected) in cases {
        let text = one_purpose_with(key, line);
        let (at, message) = catalogue_error(&text);
        assert_eq!(at, Some(line_of(&text, line)), "{line}: {message}");
        assert!(message.contains(expected), "{line}: {message}");
    }
}

#[test]
fn a_validity_window_that_ends_before_it_starts_is_rejected() {
    let text = PURPOSES.replacen(
        "max_rows = 50000",
        "max_rows = 50000\nvalid_from = 2027-09-14\nvalid_to = \"2027-09-13\"",
        1,
    );
    let (line, message) = catalogue_error(&text);
    assert_eq!(line, Some(line_of(&text, "valid_from = 2027-09-14")));
    assert!(message.contains("after valid_to"), "{message}");
}

#[test]
fn dates_may_be_written_bare_or_quoted_and_bind_by_the_utc_day() {
    let text = PURPOSES.replacen(
        "max_rows = 50000",
        "max_rows = 50000\nvalid_from = 2027-08-01\nvalid_to = \"2027-09-13\"",
        1,
    );
    let purpose = parse_catalogue(&text).unwrap().remove(0);
    assert!(!purpose.is_valid_at(datetime!(2027-07-31 23:59:59 UTC)));
    assert!(purpose.is_valid_at(datetime!(2027-08-01 00:00 UTC)));
    assert!(purpose.is_valid_at(datetime!(2027-09-14 01:30 +02:00)));
    assert!(!purpose.is_valid_at(datetime!(2027-09-14 00:00 UTC)));
}

#[test]
fn a_duplicate_id_is_rejected_on_the_second_purposes_id_line() {
    let first = PURPOSES.split("\n[[purpose]]\n").nth(1).unwrap();
    let text = format!("{PURPOSES}\n[[purpose]]\n{first}");
    let (line, message) = catalogue_error(&text);
    let second_id = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("id = \"district-assembly-invitation\""))
        .nth(1)
        .unwrap()
        .0;
    assert_eq!(line, Some(second_id + 1));
    assert!(message.contains("already used"), "{message}");
}

#[test]
fn an_unknown_key_and_a_toml_syntax_error_are_reported_with_their_lines() {
    let text = PURPOSES.replacen("max_rows = 50000", "max_row = 50000", 1);
    let (line, message) = catalogue_error(&text);
    assert_eq!(line, Some(line_of(&text, "max_row = 50000")), "{message}");
    let text = PURPOSES.replacen("max_rows = 50000", "max_rows = = 5", 1);
    let (line, _) = catalogue_error(&text);
    assert_eq!(line, Some(line_of(&text, "max_rows = = 5")));
}

#[test]
fn the_permission_table_names_the_line_of_a_bad_rule() {
    let cases = [
        ("p, boss, extract, request", "unknown role"),
        ("p, staff, extract, download", "unknown permission"),
        ("p, staff, extract", "3 columns"),
        ("g, user:anna, staff, Uppsala", "grouping"),
        (
            "p, staff, extract, request",
            "repeats the permission on line",
        ),
    ];
    for (bad, expected) in cases {
        let text = format!("{PERMISSIONS}{bad}\n");
        match PermissionTable::parse(&text) {
            Err(Error::Invalid { line, message, .. }) => {
                assert_eq!(line, Some(text.lines().count()), "{bad}");
                assert!(message.contains(expected), "{bad}: {message}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

/// The shipped table and purposes with `model`, built without the load-time self-test, so
/// that a model it would refuse reaches casbin at enforcement time.
async fn unverified_with(model: &str) -> Policy {
    assert_ne!(model, MODEL, "the model was not changed");
    let table = PermissionTable::parse(PERMISSIONS).unwrap();
    let engine = model::Engine::unverified(model, &table).await.unwrap();
    Policy::ready(
        engine,
        table,
        parse_catalogue(PURPOSES).unwrap(),
        FactorRule::default(),
        Vec::new(),
    )
}

/// Whether `policy` permits `who` to do `action` in `district`.
async fn may(policy: &Policy, who: &Principal, action: Action, in_district: &str) -> bool {
    policy
        .permits(who, action, &district(in_district))
        .await
        .is_ok()
}

#[tokio::test]
async fn a_casbin_error_while_deciding_denies_with_policy_error() {
    // The undefined function is only met by casbin at enforcement time — the path a runtime
    // engine failure takes.
    let policy =
        unverified_with(&MODEL.replace("r.obj == p.obj", "undefinedFn(r.obj, p.obj)")).await;
    let anna = principal("anna", &["staff:*", "approver:*"]);
    let req = request("phone-canvassing", "Uppsala", &NAME_PHONE, 10);
    match policy.decide(&anna, &req, NOW).await {
        Decision::Deny { code, .. } => assert_eq!(code, DenyCode::PolicyError),
        other => panic!("expected policy_error, got {other:?}"),
    }
    let err = policy
        .permits(&anna, Action::ExtractApprove, &district("Uppsala"))
        .await
        .unwrap_err();
    assert_eq!(err.deny_code(), DenyCode::PolicyError);
}

#[tokio::test]
async fn a_remembered_answer_follows_the_roles_of_each_question() {
    // The engine remembers casbin's answers; the same user asking again with a role taken
    // away, in another district or for another action must get casbin's answer to that
    // question, never the one remembered for the first.
    let policy = shipped().await;
    let with_role = principal("anna", &["approver:Uppsala"]);
    let without = principal("anna", &[]);
    let elsewhere = principal("anna", &["approver:Gotland"]);
    for _ in 0..2 {
        assert!(may(&policy, &with_role, Action::ExtractApprove, "Uppsala").await);
        assert!(!may(&policy, &without, Action::ExtractApprove, "Uppsala").await);
        assert!(!may(&policy, &elsewhere, Action::ExtractApprove, "Uppsala").await);
        assert!(!may(&policy, &with_role, Action::UsersAdminister, "Uppsala").await);
        assert!(!may(&policy, &with_role, Action::ExtractApprove, "Gotland").await);
    }
    // Two roles in another order ask the same question.
    let two = principal("bo", &["staff:Uppsala", "approver:Uppsala"]);
    let swapped = principal("bo", &["approver:Uppsala", "staff:Uppsala"]);
    assert!(may(&policy, &two, Action::ExtractApprove, "Uppsala").await);
    assert!(may(&policy, &swapped, Action::ExtractApprove, "Uppsala").await);
}

#[tokio::test]
async fn a_remembered_answer_is_given_to_the_same_user_only() {
    // A model that names one user (the shipped one never does): her answer, remembered, must
    // not reach another user asking with the same roles.
    let policy = unverified_with(&MODEL.replace(
        "&& r.obj == p.obj && r.act == p.act",
        "&& r.obj == p.obj && r.act == p.act || r.sub == \"user:anna\"",
    ))
    .await;
    let anna = principal("anna", &[]);
    let bo = principal("bo", &[]);
    for _ in 0..2 {
        assert!(may(&policy, &anna, Action::UsersAdminister, "Uppsala").await);
        assert!(!may(&policy, &bo, Action::UsersAdminister, "Uppsala").await);
    }
}

#[tokio::test]
async fn the_load_time_self_test_rejects_a_model_that_allows_everything() {
    let model = MODEL.replace(
        "m = (g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, \"*\")) && r.obj == p.obj && r.act == p.act",
        "m = true",
    );
    assert_ne!(model, MODEL);
    let err = Policy::from_parts(&model, PERMISSIONS, PURPOSES)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("model.conf"), "{err}");
}

#[tokio::test]
async fn explain_lists_every_rule_consulted_in_the_documents_order() {
    let policy = shipped().await;
    let anna = principal("anna", &["staff:Uppsala"]);
    let req = request("phone-canvassing", "Uppsala", &NAME_PHONE, 150);
    let explanation = policy.explain(&anna, &req, NOW).await;
    let rules: Vec<&str> = explanation.steps.iter().map(|s| s.rule).collect();
    assert_eq!(
        rules,
        [
            "purpose_known",
            "purpose_valid",
            "may_request",
            "fields_listed",
            "fields_allowed",
            "lifetime",
            "rows",
            "approval"
        ]
    );
    assert!(explanation.to_string().contains("=> allow"));
}

#[tokio::test]
async fn the_policy_and_its_decisions_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    fn sendable<T: Send>(_: &T) {}
    shareable::<Policy>();
    let policy = shipped().await;
    let anna = principal("anna", &["staff:Uppsala"]);
    let req = request("phone-canvassing", "Uppsala", &NAME_PHONE, 10);
    let decision = policy.decide(&anna, &req, NOW);
    sendable(&decision);
    let on_another_thread = tokio::spawn({
        let (policy, anna, req) = (policy.clone(), anna.clone(), req.clone());
        async move { policy.decide(&anna, &req, NOW).await }
    });
    assert_eq!(on_another_thread.await.unwrap(), decision.await);
}

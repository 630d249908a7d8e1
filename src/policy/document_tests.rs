//! Tests of the policy (SECURITY_BAR C2–C6) through its public API and the shipped `policies/`
//! directory, as `docs/policy.md` states the rules. The oracle comparison (C1) is in `oracle.rs`.

use std::path::{Path, PathBuf};

use crate::nouns::Scope;
use crate::nouns::{DistrictCode, Field};
use crate::policy::{
    self, Action, Decision, DenyCode, ExtractRequest, Policy, Principal, PurposeId, Reach,
    check_dir, may_approve, request_hash,
};
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-24 10:00 UTC);
const NAME_PHONE: [Field; 3] = [Field::FirstName, Field::LastName, Field::Phone];

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

async fn shipped() -> Policy {
    Policy::load(&shipped_dir()).await.unwrap()
}

fn district(code: &str) -> DistrictCode {
    DistrictCode::parse(code).unwrap()
}

fn who(id: &str, roles: &[&str]) -> Principal {
    Principal::for_tests(id, roles.iter().map(|r| r.parse().unwrap()).collect())
}

fn ask(purpose: &str, in_district: &str, fields: &[Field], rows: u64) -> ExtractRequest {
    ExtractRequest {
        purpose: PurposeId::parse(purpose).unwrap(),
        district: district(in_district),
        fields: fields.to_vec(),
        lifetime_minutes: 60,
        estimated_rows: rows,
    }
}

fn denied(decision: Decision) -> (DenyCode, String) {
    match decision {
        Decision::Deny { code, reason } => (code, reason),
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn approvers_needed(decision: Decision) -> (u8, String) {
    match decision {
        Decision::NeedsApproval {
            approvers,
            request_hash,
            ..
        } => (approvers, request_hash),
        other => panic!("expected needs-approval, got {other:?}"),
    }
}

#[tokio::test]
async fn c2_staff_of_uppsala_asking_for_skane_is_denied_with_a_reason_naming_skane() {
    let policy = shipped().await;
    let anna = who("anna", &["staff:Uppsala"]);
    let req = ask("phone-canvassing", "Skåne", &NAME_PHONE, 10);
    let (code, reason) = denied(policy.decide(&anna, &req, NOW).await);
    assert_eq!(code, DenyCode::NotPermitted);
    assert_eq!(code.as_str(), "not_permitted");
    assert!(reason.contains("Skåne"), "{reason}");
}

#[tokio::test]
async fn party_wide_staff_may_ask_in_any_district() {
    let policy = shipped().await;
    let anna = who("anna", &["staff:*"]);
    for place in ["Uppsala", "Skåne", "Västra Götaland"] {
        let req = ask("phone-canvassing", place, &NAME_PHONE, 10);
        assert!(matches!(
            policy.decide(&anna, &req, NOW).await,
            Decision::Allow(_)
        ));
    }
}

#[tokio::test]
async fn roles_other_than_staff_give_no_right_to_request_anywhere() {
    let policy = shipped().await;
    let boss = who("boss", &["approver:*", "admin:*", "auditor:*"]);
    let req = ask("phone-canvassing", "Uppsala", &NAME_PHONE, 10);
    assert_eq!(
        denied(policy.decide(&boss, &req, NOW).await).0,
        DenyCode::NotPermitted
    );
    let nobody = who("", &["staff:*"]);
    assert_eq!(
        denied(policy.decide(&nobody, &req, NOW).await).0,
        DenyCode::NotPermitted
    );
}

#[tokio::test]
async fn c3_a_field_outside_the_purpose_is_denied_naming_the_field() {
    let policy = shipped().await;
    let anna = who("anna", &["staff:Uppsala"]);
    let req = ask(
        "phone-canvassing",
        "Uppsala",
        &[Field::FirstName, Field::PersonalNumber],
        10,
    );
    let (code, reason) = denied(policy.decide(&anna, &req, NOW).await);
    assert_eq!(code, DenyCode::FieldNotAllowed);
    assert!(reason.contains("personal_number"), "{reason}");
    assert!(reason.contains("Phone canvassing"), "{reason}");
}

#[tokio::test]
async fn no_fields_or_a_field_asked_for_twice_is_refused_as_bad_fields() {
    let policy = shipped().await;
    let anna = who("anna", &["staff:Uppsala"]);
    for fields in [vec![], vec![Field::Phone, Field::FirstName, Field::Phone]] {
        let req = ask("phone-canvassing", "Uppsala", &fields, 10);
        assert_eq!(
            denied(policy.decide(&anna, &req, NOW).await).0,
            DenyCode::BadFields
        );
    }
}

#[tokio::test]
async fn c4_an_unknown_purpose_is_denied_as_unknown_purpose() {
    let policy = shipped().await;
    let anna = who("anna", &["staff:*"]);
    let req = ask("fundraising", "Uppsala", &NAME_PHONE, 10);
    let (code, _) = denied(policy.decide(&anna, &req, NOW).await);
    assert_eq!(code, DenyCode::UnknownPurpose);
    assert!(PurposeId::parse("Free text, please").is_err());
}

#[tokio::test]
async fn a_lifetime_over_the_purposes_maximum_is_denied_and_never_clamped() {
    let policy = shipped().await;
    let anna = who("anna", &["staff:Uppsala"]);
    let max = policy
        .purpose(&PurposeId::parse("phone-canvassing").unwrap())
        .unwrap()
        .max_lifetime_minutes;
    for lifetime in [0, max + 1, u32::MAX] {
        let mut req = ask("phone-canvassing", "Uppsala", &NAME_PHONE, 10);
        req.lifetime_minutes = lifetime;
        let (code, reason) = denied(policy.decide(&anna, &req, NOW).await);
        assert_eq!(code, DenyCode::LifetimeTooLong, "{lifetime}");
        assert!(reason.contains(&max.to_string()), "{reason}");
    }
    let mut req = ask("phone-canvassing", "Uppsala", &NAME_PHONE, 10);
    req.lifetime_minutes = max;
    let Decision::Allow(grant) = policy.decide(&anna, &req, NOW).await else {
        panic!("the maximum itself is allowed")
    };
    assert_eq!(grant.lifetime_minutes(), max);
}

#[tokio::test]
async fn more_members_than_the_purpose_allows_are_denied() {
    let policy = shipped().await;
    let anna = who("anna", &["staff:Uppsala"]);
    let req = ask("phone-canvassing", "Uppsala", &NAME_PHONE, 5001);
    assert_eq!(
        denied(policy.decide(&anna, &req, NOW).await).0,
        DenyCode::TooManyRows
    );
}

#[tokio::test]
async fn approval_grows_with_size_and_with_sensitive_fields() {
    let policy = shipped().await;
    let anna = who("anna", &["staff:Uppsala"]);
    let one = ask("phone-canvassing", "Uppsala", &NAME_PHONE, 201);
    assert_eq!(approvers_needed(policy.decide(&anna, &one, NOW).await).0, 1);
    let two = ask("phone-canvassing", "Uppsala", &NAME_PHONE, 2000);
    assert_eq!(approvers_needed(policy.decide(&anna, &two, NOW).await).0, 2);
    let sensitive = ask(
        "election-worker-recruitment",
        "Uppsala",
        &[Field::BirthDate],
        1,
    );
    let (n, hash) = approvers_needed(policy.decide(&anna, &sensitive, NOW).await);
    assert_eq!((n, hash), (2, request_hash("anna", &sensitive)));
}

#[test]
fn the_request_hash_changes_when_any_part_of_the_request_changes() {
    let base = ask("phone-canvassing", "Uppsala", &NAME_PHONE, 300);
    let h = request_hash("anna", &base);
    assert_eq!(h.len(), 64);
    let mut reordered = base.clone();
    reordered.fields.reverse();
    assert_eq!(request_hash("anna", &reordered), h, "fields count as a set");
    let mut changes: Vec<ExtractRequest> = Vec::new();
    let mut c = base.clone();
    c.purpose = PurposeId::parse("membership-fee-reminder").unwrap();
    changes.push(c);
    let mut c = base.clone();
    c.district = district("Skåne");
    changes.push(c);
    let mut c = base.clone();
    c.fields.pop();
    changes.push(c);
    let mut c = base.clone();
    c.lifetime_minutes += 1;
    changes.push(c);
    let mut c = base.clone();
    c.estimated_rows += 1;
    changes.push(c);
    for changed in &changes {
        assert_ne!(request_hash("anna", changed), h, "{changed:?}");
    }
    assert_ne!(request_hash("bo", &base), h);
}

#[test]
fn c5_nobody_approves_their_own_request_and_only_an_approver_of_that_district_may() {
    let uppsala = district("Uppsala");
    let self_approver = who("anna", &["approver:Uppsala", "staff:Uppsala"]);
    assert_eq!(
        may_approve(&self_approver, "anna", &uppsala),
        Err(DenyCode::SelfApproval)
    );
    let elsewhere = who("bo", &["approver:Skåne", "staff:Uppsala", "admin:*"]);
    assert_eq!(
        may_approve(&elsewhere, "anna", &uppsala),
        Err(DenyCode::NotApprover)
    );
    assert_eq!(
        may_approve(&who("bo", &["approver:Uppsala"]), "anna", &uppsala),
        Ok(())
    );
    assert_eq!(
        may_approve(&who("bo", &["approver:*"]), "anna", &uppsala),
        Ok(())
    );
}

#[tokio::test]
async fn an_approved_request_becomes_a_grant_naming_its_two_distinct_approvers() {
    let policy = shipped().await;
    let anna = who("anna", &["staff:Uppsala"]);
    let req = ask(
        "election-worker-recruitment",
        "Uppsala",
        &[Field::FirstName, Field::BirthDate],
        50,
    );
    let (_, hash) = approvers_needed(policy.decide(&anna, &req, NOW).await);
    let (bo, cecilia) = (
        who("bo", &["approver:Uppsala"]),
        who("cecilia", &["approver:*"]),
    );
    let once = [bo.clone(), bo.clone()];
    let (code, _) = denied(policy.grant_approved(&anna, &req, &hash, &once, NOW).await);
    assert_eq!(code, DenyCode::NotEnoughApprovers);
    let both = [bo, cecilia];
    let Decision::Allow(grant) = policy.grant_approved(&anna, &req, &hash, &both, NOW).await else {
        panic!("two distinct approvers suffice")
    };
    assert_eq!(grant.approved_by(), ["bo", "cecilia"]);
    assert_eq!(grant.request_hash(), hash);
    assert_eq!(grant.max_rows(), 3000);
}

#[tokio::test]
async fn an_approval_does_not_survive_a_changed_request_self_approval_or_a_removed_role() {
    let policy = shipped().await;
    let anna = who("anna", &["staff:Uppsala", "approver:Uppsala"]);
    let req = ask("phone-canvassing", "Uppsala", &NAME_PHONE, 300);
    let (_, hash) = approvers_needed(policy.decide(&anna, &req, NOW).await);
    let bo = [who("bo", &["approver:Uppsala"])];
    let mut bigger = req.clone();
    bigger.estimated_rows += 1;
    let code = denied(policy.grant_approved(&anna, &bigger, &hash, &bo, NOW).await).0;
    assert_eq!(code, DenyCode::RequestChanged);
    let by_self = [anna.clone()];
    let code = denied(
        policy
            .grant_approved(&anna, &req, &hash, &by_self, NOW)
            .await,
    )
    .0;
    assert_eq!(code, DenyCode::SelfApproval);
    let skane = [who("bo", &["approver:Skåne"])];
    let code = denied(policy.grant_approved(&anna, &req, &hash, &skane, NOW).await).0;
    assert_eq!(code, DenyCode::NotApprover);
    let demoted = who("anna", &["approver:Uppsala"]);
    let code = denied(policy.grant_approved(&demoted, &req, &hash, &bo, NOW).await).0;
    assert_eq!(code, DenyCode::NotPermitted);
    assert!(matches!(
        policy.grant_approved(&anna, &req, &hash, &bo, NOW).await,
        Decision::Allow(_)
    ));
}

#[tokio::test]
async fn permits_answers_for_other_actions_by_district_and_party_wide_only_for_party_wide_roles() {
    let policy = shipped().await;
    let (uppsala, skane) = (district("Uppsala"), district("Skåne"));
    let dpo = who("dpo", &["auditor:Uppsala"]);
    let permit = policy
        .permits(&dpo, Action::AuditView, &uppsala)
        .await
        .unwrap();
    assert_eq!(
        (permit.user_id(), permit.action(), permit.scope().as_str()),
        ("dpo", Action::AuditView, "Uppsala")
    );
    let err = policy
        .permits(&dpo, Action::AuditView, &skane)
        .await
        .unwrap_err();
    assert_eq!(err.deny_code(), DenyCode::NotPermitted);
    assert!(
        policy
            .permits_party_wide(&dpo, Action::AuditView)
            .await
            .is_err()
    );
    let admin = who("root", &["admin:*"]);
    assert!(
        policy
            .permits_party_wide(&admin, Action::UsersAdminister)
            .await
            .is_ok()
    );
    assert!(
        policy
            .permits(&admin, Action::ExtractRequest, &uppsala)
            .await
            .is_err()
    );
}

/// A temporary copy of the shipped policy directory, with `edit` applied to one file.
fn broken_copy(file: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        policy::MODEL_FILE,
        policy::PERMISSIONS_FILE,
        policy::PURPOSES_FILE,
    ] {
        let text = std::fs::read_to_string(shipped_dir().join(name)).unwrap();
        let text = if name == file { edit(text) } else { text };
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

async fn assert_every_request_denied_as_policy_error(dir: &Path) {
    assert!(Policy::load(dir).await.is_err());
    let policy = Policy::load_or_deny_all(dir).await;
    assert!(!policy.is_usable());
    let anna = who("anna", &["staff:*", "approver:*", "admin:*", "auditor:*"]);
    for req in [
        ask("phone-canvassing", "Uppsala", &NAME_PHONE, 10),
        ask("phone-canvassing", "Skåne", &NAME_PHONE, 3000),
        ask("no-such-purpose", "Skåne", &NAME_PHONE, 10),
    ] {
        assert_eq!(
            denied(policy.decide(&anna, &req, NOW).await).0,
            DenyCode::PolicyError
        );
    }
    for action in Action::ALL {
        let err = policy
            .permits(&anna, action, &district("Uppsala"))
            .await
            .unwrap_err();
        assert_eq!(err.deny_code(), DenyCode::PolicyError);
    }
}

#[tokio::test]
async fn c6_a_missing_permission_table_denies_every_request_as_policy_error() {
    let dir = broken_copy("", |t| t);
    std::fs::remove_file(dir.path().join(policy::PERMISSIONS_FILE)).unwrap();
    assert_every_request_denied_as_policy_error(dir.path()).await;
}

#[tokio::test]
async fn c6_a_malformed_model_denies_every_request_as_policy_error() {
    let dir = broken_copy(policy::MODEL_FILE, |t| t.replace("[matchers]", "[matchers"));
    assert_every_request_denied_as_policy_error(dir.path()).await;
}

#[tokio::test]
async fn c6_a_matcher_calling_an_undefined_function_denies_every_request_as_policy_error() {
    let dir = broken_copy(policy::MODEL_FILE, |t| {
        t.replace("r.act == p.act", "noSuchFn(r.act, p.act)")
    });
    assert_every_request_denied_as_policy_error(dir.path()).await;
}

#[tokio::test]
async fn c5_a_purpose_needing_zero_approvers_for_sensitive_fields_is_rejected_at_load() {
    let dir = broken_copy(policy::PURPOSES_FILE, |t| {
        t.replacen("sensitive_approvers = 2", "sensitive_approvers = 0", 1)
    });
    let err = Policy::load(dir.path()).await.unwrap_err().to_string();
    assert!(err.contains("zero approvers for sensitive fields"), "{err}");
    assert_every_request_denied_as_policy_error(dir.path()).await;
}

#[tokio::test]
async fn the_shipped_policy_directory_passes_the_check_and_lists_purposes_and_roles() {
    let report = check_dir(&shipped_dir()).await.unwrap();
    assert!(report.purposes.len() >= 4);
    let text = report.to_string();
    for expected in [
        "phone-canvassing",
        "staff     extract.request",
        "auditor",
        "consent_phone",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
}

#[tokio::test]
async fn a_broken_line_in_a_copy_fails_the_check_naming_that_file_and_line() {
    let dir = broken_copy(policy::PERMISSIONS_FILE, |t| {
        t.replacen("p, staff, extract, request", "p, staff, extract", 1)
    });
    let csv = std::fs::read_to_string(dir.path().join(policy::PERMISSIONS_FILE)).unwrap();
    let line = csv
        .lines()
        .position(|l| l.trim() == "p, staff, extract")
        .unwrap()
        + 1;
    match check_dir(dir.path()).await {
        Err(policy::Error::Invalid { file, line: at, .. }) => {
            assert!(file.ends_with("policy.csv"), "{file}");
            assert_eq!(at, Some(line));
        }
        other => panic!("expected a line error, got {other:?}"),
    }
    let dir = broken_copy(policy::PURPOSES_FILE, |t| {
        t.replacen("max_rows = 5000\n", "max_rows = 0\n", 1)
    });
    let toml = std::fs::read_to_string(dir.path().join(policy::PURPOSES_FILE)).unwrap();
    let line = toml.lines().position(|l| l == "max_rows = 0").unwrap() + 1;
    let err = check_dir(dir.path()).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "purposes.toml, line {line}: purpose \"phone-canvassing\""
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_permit_reaches_the_whole_party_or_exactly_the_districts_whose_roles_allow_it() {
    let policy = shipped().await;
    let two = who(
        "dpo",
        &["auditor:Uppsala", "auditor:Skåne", "staff:Gotland"],
    );
    let permit = policy.permit(&two, Action::AuditView).await.unwrap();
    assert_eq!(permit.reach().names(), ["Skåne", "Uppsala"]);
    assert!(permit.reach().covers("Uppsala") && !permit.reach().covers("Gotland"));
    let party = who("boss", &["auditor:*", "auditor:Uppsala"]);
    let permit = policy.permit(&party, Action::AuditView).await.unwrap();
    assert_eq!(permit.reach(), &Reach::PartyWide);
    let none = who("staffer", &["staff:Uppsala"]);
    let err = policy.permit(&none, Action::AuditView).await.unwrap_err();
    assert_eq!(err.deny_code(), DenyCode::NotPermitted);
}

#[tokio::test]
async fn a_permit_opens_only_its_own_action_within_its_reach() {
    let policy = shipped().await;
    let admin = who("anna", &["admin:Uppsala"]);
    let permit = policy
        .permit(&admin, Action::UsersAdminister)
        .await
        .unwrap();
    let uppsala = Scope::District(district("Uppsala"));
    assert!(permit.check(Action::UsersAdminister, &uppsala).is_ok());
    assert!(
        permit
            .check(Action::UsersAdminister, &Scope::Party)
            .is_err()
    );
    let skane = Scope::District(district("Skåne"));
    assert!(permit.check(Action::UsersAdminister, &skane).is_err());
    assert!(permit.check(Action::PolicyAdminister, &uppsala).is_err());
}

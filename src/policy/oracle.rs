//! The independent oracle (SECURITY_BAR C1): a second implementation of `docs/policy.md`,
//! written from the document and not from casbin or `decide.rs`, and a seeded random
//! comparison of the two over more than 10 000 cases.
//!
//! Guarantees: the oracle shares only the purpose data (read from the same TOML) and the
//! field/role types with the broker; the role → permission table below is copied from the
//! document's "What each role may do". It never calls casbin, `Policy::decide` or the
//! purpose helpers (`is_valid_at`, `allows_field`). Test-only code.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime, UtcOffset};

use super::tests::{MODEL, PERMISSIONS, PURPOSES, district};
use super::{Decision, ExtractRequest, Policy, Principal, Purpose, PurposeId};
use crate::nouns::{DistrictCode, Field, Sensitivity};
use crate::nouns::{Role, RoleGrant, Scope};

/// What the document says should happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// Allowed at once; the grant holds at most this many rows.
    Allow {
        max_rows: u64,
    },
    NeedsApproval(u8),
    Deny(&'static str),
}

/// "What each role may do", as a table.
const TABLE: [(Role, &str); 8] = [
    (Role::Staff, "extract.request"),
    (Role::Approver, "extract.approve"),
    (Role::Approver, "extract.revoke"),
    (Role::Admin, "users.administer"),
    (Role::Admin, "policy.administer"),
    (Role::Auditor, "audit.view"),
    (Role::Auditor, "pseudonym.resolve"),
    (Role::Auditor, "extract.freeze"),
];

/// "May do X in district D": a role that may do X, held in D or for the whole party.
fn may_do(roles: &[RoleGrant], action: &str, district: &str) -> bool {
    roles.iter().any(|g| {
        let role_may = TABLE.iter().any(|(r, a)| *r == g.role && *a == action);
        let here = match &g.scope {
            Scope::Party => true,
            Scope::District(d) => d.as_str() == district,
        };
        role_may && here
    })
}

fn oracle(
    catalogue: &[Purpose],
    who: &Principal,
    req: &ExtractRequest,
    now: OffsetDateTime,
) -> Expected {
    // Rule 1.
    let Some(purpose) = catalogue.iter().find(|p| p.id == req.purpose) else {
        return Expected::Deny("unknown_purpose");
    };
    // Rule 2: by the UTC date, both days included.
    let today = now.to_offset(UtcOffset::UTC).date();
    if purpose.valid_from.is_some_and(|d| today < d) || purpose.valid_to.is_some_and(|d| today > d)
    {
        return Expected::Deny("purpose_not_valid");
    }
    // Rule 3.
    if who.user_id.is_empty() || !may_do(&who.roles, "extract.request", req.district.as_str()) {
        return Expected::Deny("not_permitted");
    }
    // Rule 4.
    let mut sorted = req.fields.clone();
    sorted.sort();
    sorted.dedup();
    if req.fields.is_empty() || sorted.len() != req.fields.len() {
        return Expected::Deny("bad_fields");
    }
    // Rules 5–7.
    if req
        .fields
        .iter()
        .any(|f| !purpose.allowed_fields.contains(f))
    {
        return Expected::Deny("field_not_allowed");
    }
    if req.lifetime_minutes == 0 || req.lifetime_minutes > purpose.max_lifetime_minutes {
        return Expected::Deny("lifetime_too_long");
    }
    if req.estimated_rows > purpose.max_rows {
        return Expected::Deny("too_many_rows");
    }
    approval(purpose, req)
}

/// "Approval": the largest number any rule asks for; else allowed at once or one approver.
fn approval(purpose: &Purpose, req: &ExtractRequest) -> Expected {
    let rule = purpose.approval;
    let sensitive = req
        .fields
        .iter()
        .any(|f| matches!(f, Field::BirthDate | Field::PersonalNumber));
    let by_sensitivity = if sensitive {
        rule.sensitive_approvers
    } else {
        0
    };
    let by_size = if req.estimated_rows >= rule.two_approvers_min_rows {
        2
    } else {
        0
    };
    let needed = by_sensitivity.max(by_size);
    if needed > 0 {
        return Expected::NeedsApproval(needed);
    }
    if rule.auto_max_rows > 0 && req.estimated_rows <= rule.auto_max_rows {
        Expected::Allow {
            max_rows: rule.auto_max_rows,
        }
    } else {
        Expected::NeedsApproval(1)
    }
}

fn observed(decision: &Decision) -> Expected {
    match decision {
        Decision::Allow(grant) => Expected::Allow {
            max_rows: grant.max_rows(),
        },
        Decision::NeedsApproval { approvers, .. } => Expected::NeedsApproval(*approvers),
        Decision::Deny { code, .. } => Expected::Deny(code.as_str()),
    }
}

/// The shipped catalogue plus test purposes: a validity window, `auto_max_rows = 0` and one
/// sensitive approver, so every branch of the document is reachable.
fn test_catalogue() -> String {
    format!(
        "{PURPOSES}\n{}",
        r#"
[[purpose]]
id = "election-day-sms"
name_sv = "Valdagspåminnelse"
name_en = "Election day reminder"
description_sv = "Sms om vallokaler."
description_en = "Text messages about polling stations."
allowed_fields = ["first_name", "phone", "birth_date", "local_branch"]
required_consents = ["consent_sms"]
max_rows = 4000
max_lifetime_minutes = 600
formats = ["view"]
acknowledgement_sv = "Jag raderar listan efter valdagen."
acknowledgement_en = "I will delete the list after election day."
valid_from = 2026-08-01
valid_to = "2026-09-13"
[purpose.approval]
auto_max_rows = 300
two_approvers_min_rows = 1500
sensitive_approvers = 1

[[purpose]]
id = "always-approved"
name_sv = "Alltid godkänd"
name_en = "Always approved"
description_sv = "Test."
description_en = "Test."
allowed_fields = ["member_id", "personal_number", "city"]
max_rows = 100
max_lifetime_minutes = 30
formats = ["csv"]
acknowledgement_sv = "Ja."
acknowledgement_en = "Yes."
[purpose.approval]
auto_max_rows = 0
two_approvers_min_rows = 50
sensitive_approvers = 1
"#
    )
}

const DISTRICTS: [&str; 3] = ["Uppsala", "Skåne", "Gotland"];

/// 0–4 roles; the staff role and the requested district are favoured so that most cases get
/// past rule 3 and reach the later rules.
fn random_principal(rng: &mut ChaCha8Rng, asked_in: &DistrictCode) -> Principal {
    let user_id = if rng.gen_ratio(1, 50) {
        ""
    } else {
        pick(rng, &["anna", "bo", "cecilia"])
    };
    let roles = (0..rng.gen_range(0..=4))
        .map(|_| {
            let role = if rng.gen_bool(0.5) {
                Role::Staff
            } else {
                pick(rng, &Role::ALL)
            };
            let scope = match rng.gen_range(0..10) {
                0..=3 => Scope::District(asked_in.clone()),
                4..=5 => Scope::Party,
                _ => Scope::District(district(pick(rng, &DISTRICTS))),
            };
            RoleGrant { role, scope }
        })
        .collect();
    Principal::for_tests(user_id, roles)
}

fn random_fields(rng: &mut ChaCha8Rng, purpose: Option<&Purpose>) -> Vec<Field> {
    let mut pool: Vec<Field> = purpose.map_or_else(Vec::new, |p| p.allowed_fields.clone());
    if pool.is_empty() || rng.gen_ratio(1, 4) {
        pool.push(Field::ALL[rng.gen_range(0..Field::ALL.len())]);
    }
    if rng.gen_ratio(1, 5) {
        let sensitive: Vec<Field> = Field::ALL
            .into_iter()
            .filter(|f| f.sensitivity() == Sensitivity::Sensitive)
            .collect();
        pool.extend(sensitive.choose(rng));
    }
    let count = rng.gen_range(0..=pool.len().min(5));
    let mut fields: Vec<Field> = pool.choose_multiple(rng, count).copied().collect();
    if rng.gen_ratio(1, 20)
        && let Some(first) = fields.first().copied()
    {
        fields.push(first);
    }
    fields
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, options: &[T]) -> T {
    options[rng.gen_range(0..options.len())]
}

fn random_request(rng: &mut ChaCha8Rng, catalogue: &[Purpose]) -> ExtractRequest {
    let purpose = if rng.gen_ratio(1, 15) {
        None
    } else {
        catalogue.choose(rng)
    };
    let id = purpose.map_or("no-such-purpose", |p| p.id.as_str());
    let (max_life, max_rows, auto, two) = purpose.map_or((60, 100, 10, 50), |p| {
        (
            p.max_lifetime_minutes,
            p.max_rows,
            p.approval.auto_max_rows,
            p.approval.two_approvers_min_rows,
        )
    });
    let within = rng.gen_range(1..=max_life);
    let lifetime = pick(rng, &[0, 1, max_life, max_life + 1, within, 50_000]);
    let rows = pick(
        rng,
        &[0, 1, auto, auto + 1, two - 1, two, max_rows, max_rows + 1],
    );
    let rows = if rng.gen_bool(0.3) {
        rng.gen_range(0..=max_rows + 10)
    } else {
        rows
    };
    ExtractRequest {
        purpose: PurposeId::parse(id).unwrap(),
        district: district(DISTRICTS[rng.gen_range(0..3)]),
        fields: random_fields(rng, purpose),
        lifetime_minutes: lifetime,
        estimated_rows: rows,
    }
}

fn random_now(rng: &mut ChaCha8Rng) -> OffsetDateTime {
    let edges = [
        datetime!(2026-07-31 23:59:59 UTC),
        datetime!(2026-08-01 00:00 UTC),
        datetime!(2026-09-13 23:59:59 UTC),
        datetime!(2026-09-14 00:00 UTC),
        // 00:30 in Sweden on 14 September is still 13 September in UTC.
        datetime!(2026-09-14 00:30 +02:00),
    ];
    if rng.gen_ratio(1, 3) {
        return pick(rng, &edges);
    }
    let start = date!(2026 - 06 - 01).midnight().assume_utc();
    start + Duration::minutes(rng.gen_range(0..(200 * 24 * 60)))
}

fn label(outcome: Expected) -> String {
    match outcome {
        Expected::Allow { .. } => "allow".to_owned(),
        Expected::NeedsApproval(n) => format!("approval:{n}"),
        Expected::Deny(code) => format!("deny:{code}"),
    }
}

/// At least this many cases run in plain `cargo test`, whatever `PROPTEST_CASES` says.
const CASES: usize = 12_000;

#[tokio::test]
async fn the_broker_agrees_with_the_independent_oracle_on_twelve_thousand_random_requests() {
    let catalogue_text = test_catalogue();
    let policy = Policy::from_parts(MODEL, PERMISSIONS, &catalogue_text)
        .await
        .unwrap();
    let catalogue = super::parse_catalogue(&catalogue_text).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0x5265_6769_7374_6572);
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    let started = std::time::Instant::now();
    let mut disagreements = Vec::new();
    for case in 0..CASES {
        let req = random_request(&mut rng, &catalogue);
        let who = random_principal(&mut rng, &req.district);
        let now = random_now(&mut rng);
        let expected = oracle(&catalogue, &who, &req, now);
        let got = observed(&policy.decide(&who, &req, now).await);
        *seen.entry(label(expected)).or_default() += 1;
        if expected != got {
            disagreements.push(format!(
                "case {case}: {who:?} {req:?} at {now}: oracle {expected:?}, broker {got:?}"
            ));
        }
    }
    eprintln!(
        "{CASES} cases in {:?}; outcomes: {seen:?}",
        started.elapsed()
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements, first: {}",
        disagreements.len(),
        disagreements[0]
    );
    for outcome in [
        "allow",
        "approval:1",
        "approval:2",
        "deny:unknown_purpose",
        "deny:purpose_not_valid",
        "deny:not_permitted",
        "deny:bad_fields",
        "deny:field_not_allowed",
        "deny:lifetime_too_long",
        "deny:too_many_rows",
    ] {
        assert!(
            seen.get(outcome).copied().unwrap_or(0) >= 30,
            "too few {outcome}: {seen:?}"
        );
    }
}

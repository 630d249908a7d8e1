//! Every kind of audit event told in both languages, from details shaped as its recorders
//! write them (grep `EventKind::` in `src/`): no placeholder left, no id, hash or code shown.

use serde_json::{Value, json};

use super::*;
use crate::audit::EventKind as K;

const ANNA: &str = "0c2ba9071d4e4f6a8b3c5d7e9f1a2b3c";
const BERTIL: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const EXTRACT: &str = "4f2a91c3b7d84e0fa1b2c3d4e5f60718";
const HASH: &str = "5d41402abc4b2a76b9719d911017c592aa5d41402abc4b2a76b9719d911017c5";

fn known() -> Known {
    let mut k = Known::default();
    k.add_person(ANNA, "anna", "Anna Berg");
    k.add_person(BERTIL, "bertil", "bertil");
    k.add_purpose("phone-canvassing", "Telefonkampanj", "Phone canvassing");
    k.add_provider("eid", "E-legitimation", "Swedish e-ID");
    // 2 March 2026, 10:00 UTC.
    k.add_extract(EXTRACT, "phone-canvassing", "Uppsala", 1_772_445_600);
    k
}

fn entry(kind: K, outcome: &str, actor: &str, target: &str, details: Value) -> Entry {
    Entry {
        action: kind.code().to_owned(),
        actor: actor.to_owned(),
        target: target.to_owned(),
        outcome: outcome.to_owned(),
        details,
    }
}

/// The request's scope as `extract::request::scope_event` records it.
fn scope() -> Value {
    json!({
        "purpose": "phone-canvassing", "district": "Uppsala",
        "fields": ["first_name", "phone"], "lifetime_minutes": 1440,
        "filters": { "statuses": ["active"] },
    })
}

fn with(mut base: Value, more: Value) -> Value {
    if let (Some(map), Some(more)) = (base.as_object_mut(), more.as_object()) {
        map.extend(more.clone());
    }
    base
}

/// One entry or more of every kind, as recorded. A table: one line per entry reads better
/// than rustfmt's seven.
#[rustfmt::skip]
#[allow(clippy::too_many_lines)]
fn samples() -> Vec<Entry> {
    let anna = format!("user:{ANNA}");
    let bertil = format!("user:{BERTIL}");
    let extract = format!("extract:{EXTRACT}");
    let (a, b, x) = (anna.as_str(), bertil.as_str(), extract.as_str());
    let member = format!("member:{}", &HASH[..32]);
    let ok = "success";
    vec![
        entry(K::SystemStarted, ok, "system", "broker", json!({ "version": "0.9.0", "listen": "127.0.0.1:8080", "instance": "host-1", "kek_id": HASH })),
        entry(K::SystemStopped, ok, "system", "broker", json!({ "instance": "host-1" })),
        entry(K::KeysRotated, ok, "system", "keys", json!({ "from": &HASH[..16], "to": &HASH[16..32], "instance": "host-1" })),
        entry(K::StoreInitialised, ok, "cli:root", "store", json!({ "backend": "sqlite" })),
        entry(K::DemoCreated, ok, "cli:root", "demo", json!({ "synthetic_members": 5000 })),
        entry(K::UserCreated, ok, b, "user:anna", json!({ "user_id": ANNA, "roles": ["staff:Uppsala", "auditor:*"], "invitation_expires_at": 1_772_445_600, "signs_in_with": "eid" })),
        entry(K::InvitationAccepted, ok, a, "user:anna", json!({})),
        entry(K::InvitationAccepted, ok, a, "user:anna", json!({ "provider": "eid" })),
        entry(K::InvitationResent, ok, b, "user:anna", json!({ "ended": 1, "invitation_expires_at": 1_772_445_600, "to": "email" })),
        entry(K::UserDisabled, ok, b, "user:anna", json!({})),
        entry(K::UserEnabled, ok, b, "user:anna", json!({})),
        entry(K::UserEmailChanged, ok, b, "user:anna", json!({ "set": true })),
        entry(K::UserEmailChanged, ok, b, "user:anna", json!({ "set": false })),
        entry(K::SecondFactorReset, ok, "cli:root", "user:anna", json!({ "passkeys_removed": 1 })),
        entry(K::PasswordAccepted, ok, a, "user:anna", json!({ "ip": "10.0.0.7", "next": "second_factor" })),
        entry(K::PasswordRejected, "failure", "anonymous", "user:anna", json!({ "ip": "10.0.0.7" })),
        entry(K::PasswordRejected, "failure", "anonymous", "sign_in", json!({ "ip": "10.0.0.7", "unknown_user": &HASH[..32] })),
        entry(K::SecondFactorAccepted, ok, a, "user:anna", json!({ "ip": "10.0.0.7", "method": "totp", "purpose": "sign_in" })),
        entry(K::SecondFactorAccepted, ok, a, "user:anna", json!({ "ip": "10.0.0.7", "method": "passkey", "passkey": HASH, "purpose": "step_up" })),
        entry(K::SecondFactorAccepted, ok, a, "user:anna", json!({ "ip": "10.0.0.7", "provider": "eid", "issuer": "https://eid.example", "method": "oidc", "purpose": "step_up" })),
        entry(K::SecondFactorRejected, "failure", a, "user:anna", json!({ "ip": "10.0.0.7", "reason": "replayed", "consecutive_failures": 2 })),
        entry(K::SecondFactorRejected, "failure", a, "user:anna", json!({ "ip": "10.0.0.7", "method": "passkey", "reason": "user_not_verified" })),
        entry(K::SecondFactorRejected, "denied", a, "user:anna", json!({ "ip": "10.0.0.7", "reason": "locked" })),
        entry(K::SecondFactorLocked, "denied", "system", "user:anna", json!({ "until": 1_772_445_600, "duration_secs": 300 })),
        entry(K::SecondFactorDisabled, "denied", "system", "user:anna", json!({})),
        entry(K::AddressLimited, "denied", "anonymous", "sign_in", json!({ "ip": "10.0.0.7" })),
        entry(K::TotpEnrolled, ok, a, "user:anna", json!({ "ip": "10.0.0.7", "recovery_codes": 10 })),
        entry(K::PasskeyRegistered, ok, a, "user:anna", json!({ "ip": "10.0.0.7", "passkey": HASH, "at_enrolment": false, "recovery_codes": 0 })),
        entry(K::PasskeyRejected, "failure", a, "user:anna", json!({ "ip": "10.0.0.7", "reason": "wrong_origin" })),
        entry(K::PasskeyRenamed, ok, a, "user:anna", json!({ "passkey": HASH })),
        entry(K::PasskeyRemoved, ok, a, "user:anna", json!({ "passkey": HASH })),
        entry(K::PhishingResistantRequired, "denied", a, "user:anna", json!({ "action": "/admin", "purpose": null, "factor": "totp" })),
        entry(K::PhishingResistantRequired, "denied", a, &format!("user:{ANNA}"), json!({ "action": "extract.request", "purpose": "phone-canvassing" })),
        entry(K::SignedOut, ok, a, "user:anna", json!({ "ip": "10.0.0.7" })),
        entry(K::OidcAccepted, ok, a, "user:anna", json!({ "ip": "10.0.0.7", "provider": "eid", "issuer": "https://eid.example", "mfa_trusted": true, "acr": null, "amr": [], "claims": {}, "next": "full" })),
        entry(K::OidcRejected, "denied", "anonymous", "oidc", json!({ "reason": "state_mismatch", "provider": "eid", "ip": "10.0.0.7" })),
        entry(K::OidcLinked, ok, a, "user:anna", json!({ "issuer": "https://eid.example", "subject": HASH, "provider": "eid", "by": "invitation" })),
        entry(K::OidcLinked, ok, b, "user:anna", json!({ "issuer": "https://eid.example", "subject": HASH, "by": "administrator" })),
        entry(K::RoleGranted, ok, b, "user:anna", json!({ "role": "approver:Uppsala", "changed": true, "proposed_by": null })),
        entry(K::RoleGranted, ok, b, "user:anna", json!({ "role": "approver:Uppsala", "changed": true, "proposed_by": a })),
        entry(K::RoleRevoked, ok, b, "user:anna", json!({ "role": "staff:Uppsala", "changed": true, "proposed_by": null })),
        entry(K::RoleRevoked, ok, b, "user:anna", json!({ "role": "auditor:*", "changed": true, "proposed_by": a })),
        entry(K::RoleChangeRequested, ok, b, "user:anna", json!({ "request_id": HASH, "change": "grant", "role": "admin:*" })),
        entry(K::RoleChangeRequested, ok, b, "user:anna", json!({ "request_id": HASH, "change": "revoke", "role": "admin:*" })),
        entry(K::RoleChangeRejected, ok, b, "user:anna", json!({ "request_id": HASH, "change": "grant", "role": "admin:*", "proposed_by": a })),
        entry(K::RoleChangeRejected, ok, b, "user:anna", json!({ "request_id": HASH, "change": "grant", "role": "admin:*", "proposed_by": b })),
        entry(K::UserProposed, ok, b, "user:cecilia", json!({ "proposal_id": HASH, "roles": ["staff:Skåne"], "email": true })),
        entry(K::UserProposalRejected, ok, a, "user:cecilia", json!({ "proposal_id": HASH, "proposed_by": b })),
        entry(K::UserProposalRejected, ok, b, "user:cecilia", json!({ "proposal_id": HASH, "proposed_by": b })),
        entry(K::PolicyProposed, ok, b, "policy", json!({ "proposal_id": HASH, "base_version": 3, "comment": "Ny kampanj", "purposes_before": [], "purposes_after": [], "permissions_changed": false, "sha256_before": HASH, "sha256_after": HASH })),
        entry(K::PolicyProposalRejected, ok, a, "policy", json!({ "proposal_id": HASH, "proposed_by": b })),
        entry(K::PolicyProposalRejected, ok, b, "policy", json!({ "proposal_id": HASH, "proposed_by": b })),
        entry(K::PermitRefused, "denied", a, "users.administer", json!({ "action": "users.administer" })),
        entry(K::PolicyDecision, "denied", a, "purpose:phone-canvassing", with(scope(), json!({ "code": "not_permitted", "estimated_rows": 120 }))),
        entry(K::PolicyDecision, "denied", a, "purpose:phone-canvassing", with(scope(), json!({ "code": "no_members" }))),
        entry(K::PolicyDecision, ok, a, "purpose:phone-canvassing", json!({ "purpose": "phone-canvassing", "district": "Uppsala", "fields": ["phone"], "lifetime_minutes": 60, "estimated_rows": 10, "decision": "needs_approval", "code": null, "approvers": 1 })),
        entry(K::AuthzError, "denied", a, "users.administer", json!({ "action": "users.administer" })),
        entry(K::AuthzError, "denied", a, "purpose:phone-canvassing", with(scope(), json!({ "code": "policy_error", "estimated_rows": 12 }))),
        entry(K::PolicyChanged, ok, b, "policy", json!({ "from_version": 3, "to_version": 4, "comment": "Ny kampanj", "purposes_before": [], "purposes_after": [], "permissions_changed": true, "sha256_before": HASH, "sha256_after": HASH })),
        entry(K::ExtractEstimated, ok, a, "purpose:phone-canvassing", with(scope(), json!({ "included": 1 }))),
        entry(K::ExtractEstimated, "denied", a, "purpose:phone-canvassing", with(scope(), json!({ "code": "not_permitted" }))),
        entry(K::ExtractRequested, ok, a, x, with(scope(), json!({ "estimated_rows": 120, "approvers_needed": 1, "request_hash": HASH }))),
        entry(K::ExtractRequested, ok, a, x, with(scope(), json!({ "estimated_rows": 12, "approvers_needed": 0, "request_hash": HASH }))),
        entry(K::ExtractApproved, ok, b, x, json!({ "request_hash": HASH, "district": "Uppsala" })),
        entry(K::ExtractDenied, ok, b, x, json!({ "request_hash": HASH, "district": "Uppsala" })),
        entry(K::ExtractDenied, "denied", "system", x, json!({ "code": "not_enough_approvers", "by": "policy" })),
        entry(K::ExtractLapsed, ok, "system", x, json!({})),
        entry(K::ExtractBuilt, ok, "system", x, json!({ "rows": 120, "chunks": 2, "data_key_id": HASH, "kek_id": HASH, "purpose": "phone-canvassing", "district": "Uppsala", "fields": ["first_name"], "approved_by": [BERTIL], "expires_at": 1_772_532_000, "request_hash": HASH })),
        entry(K::ExtractBuildFailed, "failure", "system", x, json!({ "reason": "register_error" })),
        entry(K::ExtractReleased, ok, a, x, json!({ "format": "csv", "download": 1, "of": 3, "rows": 120, "ip": "10.0.0.7" })),
        entry(K::ExtractReleased, ok, a, x, json!({ "format": "xlsx", "download": 2, "of": 3, "rows": 120, "ip": null })),
        entry(K::ExtractViewed, ok, a, x, json!({ "page": 0, "rows": 50, "ip": "10.0.0.7" })),
        entry(K::ExtractDamaged, "failure", a, x, json!({ "sent_bytes": 0 })),
        entry(K::CallsAssigned, ok, a, x, json!({ "caller": bertil, "members": 12 })),
        entry(K::CallsAssigned, ok, a, x, json!({ "caller": anna, "from_caller": bertil, "members": 3 })),
        entry(K::CallsAssigned, "denied", a, x, json!({ "code": "caller_not_in_district" })),
        entry(K::CallsShown, ok, a, x, json!({ "members": 5, "ip": "10.0.0.7" })),
        entry(K::CallOutcomeRecorded, ok, a, x, json!({ "outcome": "call_back", "note": true })),
        entry(K::CallOutcomeRecorded, "denied", a, x, json!({ "code": "outcome_not_allowed" })),
        entry(K::CallsDoNotCall, ok, "system", x, json!({ "from": x, "rows": 3, "processor": "medlemsregistret", "processor_name": "Medlemsregistret", "agreement_ref": "MR-1", "purpose": "member-calls" })),
        entry(K::CallsDoNotCall, "denied", "system", x, json!({ "code": "agreement_ended", "rows": 3, "processor": "medlemsregistret" })),
        entry(K::CallsDoNotCall, "denied", "system", x, json!({ "code": "frozen", "rows": 1, "processor": null })),
        entry(K::CallsDoNotCall, "denied", "system", x, json!({ "code": "damaged", "rows": 1, "processor": "medlemsregistret" })),
        entry(K::ExtractShredded, ok, "system", x, json!({ "reason": "expired", "rows": 120, "chunks_deleted": 2, "data_key_id": HASH, "wrapped_key": "destroyed" })),
        entry(K::ExtractShredded, ok, a, x, json!({ "reason": "done", "rows": null, "chunks_deleted": 1, "data_key_id": HASH, "wrapped_key": "destroyed" })),
        entry(K::ExtractAttested, ok, a, x, json!({ "state": "shredded", "downloads": 1 })),
        entry(K::HandoverOffered, ok, "system", x, json!({ "processor": "tryckeriet", "processor_name": "Tryckeriet AB", "agreement_ref": "PUB-2026-04", "until": 1_772_532_000 })),
        entry(K::HandoverOffered, ok, a, x, json!({ "processor": "tryckeriet", "processor_name": "Tryckeriet AB", "agreement_ref": "PUB-2026-04", "until": 1_772_532_000, "again": true })),
        entry(K::HandoverCodeSent, ok, "processor:tryckeriet", x, json!({ "processor": "tryckeriet", "processor_name": "Tryckeriet AB", "agreement_ref": "PUB-2026-04", "until": 1_772_532_000 })),
        entry(K::HandoverReleased, ok, "processor:tryckeriet", x, json!({ "processor": "tryckeriet", "processor_name": "Tryckeriet AB", "agreement_ref": "PUB-2026-04", "rows": 120, "ip": "10.0.0.7", "format": "csv", "until": 1_772_532_000 })),
        entry(K::HandoverRefused, "denied", "anonymous", "handover", json!({ "code": "handover_unknown" })),
        entry(K::HandoverRefused, "denied", "processor:tryckeriet", x, json!({ "processor": "tryckeriet", "processor_name": "Tryckeriet AB", "agreement_ref": "PUB-2026-04", "code": "handover_wrong_code", "failures": 2 })),
        entry(K::HandoverRefused, "denied", "processor:tryckeriet", x, json!({ "processor": "tryckeriet", "processor_name": "Tryckeriet AB", "agreement_ref": "PUB-2026-04", "code": "agreement_ended" })),
        entry(K::HandoverLocked, "denied", "processor:tryckeriet", x, json!({ "processor": "tryckeriet", "processor_name": "Tryckeriet AB", "agreement_ref": "PUB-2026-04", "failures": 5 })),
        entry(K::HandoverDeletionConfirmed, ok, "processor:tryckeriet", x, json!({ "processor": "tryckeriet", "processor_name": "Tryckeriet AB", "agreement_ref": "PUB-2026-04", "late": false })),
        entry(K::ExtractsFrozen, ok, b, "extracts", json!({ "reason": "Misstänkt läcka" })),
        entry(K::ExtractsUnfrozen, ok, b, "extracts", json!({ "reason": "Utrett" })),
        entry(K::AuditMemberLookup, ok, b, &member, json!({ "extracts": 2, "scope": ["*"] })),
        entry(K::AuditExtractStory, ok, b, x, json!({ "events": 7, "members": 120 })),
        entry(K::AuditTrace, ok, b, &format!("file:{HASH}"), json!({ "bytes": 2048, "rows": 40, "key": "member_id", "confidence": "high", "extracts_sharing_rows": 1, "candidates": [EXTRACT], "scope": ["*"] })),
        entry(K::AuditBreachScope, ok, b, x, json!({ "extracts": [EXTRACT], "members": 120, "releases": 1, "still_live": 0, "scope": ["*"] })),
        entry(K::AuditMemberReport, ok, b, &member, json!({ "staff_names": false, "extracts": 1, "scope": ["*"] })),
        entry(K::AuditMemberReport, ok, b, &member, json!({ "staff_names": true, "extracts": 1, "scope": ["*"] })),
        entry(K::PseudonymResolved, ok, b, &member, json!({})),
        entry(K::PseudonymRevealed, ok, b, &member, json!({ "district": "Uppsala", "reason": "Ärende 2026-114", "found": true, "searched": 400 })),
        entry(K::PseudonymRevealed, ok, b, &member, json!({ "district": "Uppsala", "reason": "Ärende 2026-114", "found": false, "searched": 400 })),
        entry(K::AuditTimeline, ok, b, "audit_log", json!({ "filters": { "actor": null }, "returned": 100, "scope": ["*"] })),
        entry(K::AuditExport, ok, b, "audit_log", json!({ "format": "csv", "from": null, "to": null, "scope": ["*"] })),
        entry(K::AuditExport, ok, b, "audit_log", json!({ "format": "jsonl", "from": "2026-03-01T00:00:00.000Z", "to": "2026-03-02T00:00:00.000Z", "scope": ["Uppsala"] })),
        entry(K::UsersListed, ok, b, "users", json!({ "count": 12 })),
        entry(K::UsersListed, ok, b, "user_proposals", json!({ "count": 1 })),
        entry(K::UsersListed, ok, b, "role_changes", json!({ "count": 0 })),
        // Recertification of roles (issue 22, item 2).
        entry(K::UsersListed, ok, b, "role_holdings", json!({ "count": 3 })),
        entry(K::RoleRecertified, ok, b, "user:anna", json!({ "role": "staff:Uppsala", "outcome": "confirmed", "was": "suspended", "due_at": 1_772_445_600 })),
        entry(K::RoleRecertified, ok, b, "user:anna", json!({ "role": "staff:Uppsala", "outcome": "removed", "was": "due_soon", "awaiting_second_admin": false })),
        entry(K::RoleSuspended, ok, "system", "user:anna", json!({ "role": "staff:Uppsala", "due_at": 1_772_445_600 })),
        entry(K::RoleDueNoticed, ok, "system", "user:anna", json!({ "role": "staff:Uppsala", "due_at": 1_772_445_600, "confirmers": 2 })),
        entry(K::ExtractQueueShown, ok, b, "extracts:pending", json!({ "count": 1, "extracts": [EXTRACT] })),
        entry(K::ExtractQueueShown, ok, b, "extracts:overdue", json!({ "count": 0, "extracts": [] })),
        entry(K::ExtractShown, ok, b, x, json!({ "district": "Uppsala", "state": "live" })),
        entry(K::FollowupListed, ok, b, "followup", json!({ "open": true, "flags": 3, "scope": ["*"] })),
        entry(K::FollowupAcknowledged, ok, b, &format!("flag:{HASH}"), json!({ "kind": "whole_district", "district": "Uppsala", "extract_id": EXTRACT, "week": "2026-W10", "comment_chars": 12, "comment_sha256": HASH })),
        entry(K::SampleDrawn, ok, "system", "sample:Uppsala:1772406000", json!({ "district": "Uppsala", "from": "2026-03-01T23:00:00Z", "to": "2026-03-08T23:00:00Z", "early": false, "review_by": 1774220400, "actions": ["extract.download"], "population": 12, "population_sha256": HASH, "algorithm": "registervakt.sample.v1", "seed": HASH, "sample_size": 3, "chosen": 3, "sample": [4, 9, 17] })),
        entry(K::SampleDrawn, ok, b, "sample:Uppsala:1772406000", json!({ "district": "Uppsala", "from": "2026-03-01T23:00:00Z", "to": "2026-03-04T10:00:00Z", "early": true, "review_by": 1774220400, "actions": ["extract.download"], "population": 1, "population_sha256": HASH, "algorithm": "registervakt.sample.v1", "seed": HASH, "sample_size": 3, "chosen": 1, "sample": [4] })),
        entry(K::SampleListed, ok, b, "samples", json!({ "count": 4, "scope": ["*"] })),
        entry(K::SampleListed, ok, b, "sample:Uppsala:1772406000", json!({ "count": 1, "district": "Uppsala", "from": "2026-03-01T23:00:00Z", "to": "2026-03-08T23:00:00Z" })),
        entry(K::SampleReviewed, ok, b, "sample:Uppsala:1772406000", json!({ "district": "Uppsala", "from": "2026-03-01T23:00:00Z", "to": "2026-03-08T23:00:00Z", "position": 2, "audit_seq": 9, "verdict": "fine", "comment_chars": 0, "comment_sha256": HASH })),
        entry(K::SampleReviewed, ok, b, "sample:Uppsala:1772406000", json!({ "district": "Uppsala", "from": "2026-03-01T23:00:00Z", "to": "2026-03-08T23:00:00Z", "position": 3, "audit_seq": 17, "verdict": "case", "comment_chars": 12, "comment_sha256": HASH })),
        entry(K::SampleSignedOff, ok, b, "sample:Uppsala:1772406000", json!({ "district": "Uppsala", "from": "2026-03-01T23:00:00Z", "to": "2026-03-08T23:00:00Z", "items": 3, "cases": 1 })),
        entry(K::ReportActivity, ok, b, "report:activity", json!({ "from": "2026-02-01T00:00:00Z", "to": "2026-03-01T00:00:00Z", "scope": ["*"], "requested": 4 })),
        entry(K::ReportArticle30, ok, b, "report:article30", json!({ "policy_version": 4, "purposes": 6, "scope": ["*"] })),
    ]
}

/// A run of 16 or more hexadecimal digits: an id, key or hash.
fn holds_hex(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= 16 {
            return true;
        }
    }
    false
}

/// Words of English that no Swedish page may show (as the browser walk checks).
fn english_word(text: &str) -> Option<&str> {
    const ENGLISH: [&str; 19] = [
        "the", "you", "your", "must", "cannot", "is", "are", "not", "with", "this", "that",
        "please", "was", "has", "have", "will", "which", "there", "longer",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .find(|w| ENGLISH.contains(&w.to_lowercase().as_str()))
}

#[test]
fn every_kind_has_a_sentence_and_a_name_in_both_languages() {
    for kind in K::ALL {
        for lang in Lang::ALL {
            let code = lang.code();
            let base = base(*kind);
            assert!(
                lookup(lang, &format!("events.{base}")).is_some(),
                "events.{base} missing from {code}.toml"
            );
            assert!(
                lookup(lang, &format!("event_names.{base}")).is_some(),
                "event_names.{base} missing from {code}.toml"
            );
        }
    }
}

#[test]
fn every_kind_is_told_from_what_it_records_without_ids_codes_or_placeholders() {
    let known = known();
    let samples = samples();
    for kind in K::ALL {
        assert!(
            samples.iter().any(|e| e.action == kind.code()),
            "no sample of {}: add one as its recorder writes it",
            kind.code()
        );
    }
    for e in &samples {
        let kind = EventKind::from_code(&e.action).unwrap();
        if let Some(v) = values::variant(kind, e) {
            let key = format!("events.{}_{v}", base(kind));
            assert!(lookup(Lang::Sv, &key).is_some(), "{key} is missing");
        }
        for lang in Lang::ALL {
            let (told, missing) = sentence(lang, &known, e);
            let what = format!("{} in {}: {told}", e.action, lang.code());
            assert!(missing.is_empty(), "{what} lacks {missing:?}");
            assert!(!told.contains(['{', '}', '_']), "{what}");
            assert!(!holds_hex(&told), "{what}");
            assert!(
                !told.contains("user:") && !told.contains("extract:"),
                "{what}"
            );
            assert!(told.ends_with('.'), "{what}");
            if lang == Lang::Sv {
                assert_eq!(english_word(&told), None, "{what}");
            }
        }
    }
}

#[test]
fn a_download_is_told_with_names_words_and_local_time() {
    let known = known();
    let download = entry(
        K::ExtractReleased,
        "success",
        &format!("user:{ANNA}"),
        &format!("extract:{EXTRACT}"),
        json!({ "format": "csv", "download": 1, "of": 3, "rows": 120, "ip": "10.0.0.7" }),
    );
    let told = tell(Lang::Sv, &known, &download);
    assert_eq!(
        told.sentence,
        "Anna Berg (anna) hämtade listan som CSV från 10.0.0.7 (hämtning 1 av 3)."
    );
    assert_eq!(told.outcome, "Utfört");
    assert!(!told.refused);
    assert_eq!(
        told.about,
        Some(About {
            id: EXTRACT.to_owned(),
            text: "Telefonkampanj · Uppsala · 2 mars 2026 · 4F2A-91C3".to_owned(),
        })
    );
    let en = tell(Lang::En, &known, &download);
    assert_eq!(
        en.sentence,
        "Anna Berg (anna) downloaded the list as CSV from 10.0.0.7 (download 1 of 3)."
    );
    let built = &samples()[samples()
        .iter()
        .position(|e| e.action == "extract.snapshot")
        .unwrap()];
    assert!(
        tell(Lang::Sv, &known, built)
            .sentence
            .ends_with("den raderas senast 3 mars 2026 11:00 CET."),
        "times in the shown zone"
    );
}

#[test]
fn refusals_say_why_and_people_are_named_whoever_they_are() {
    let known = known();
    let refused = entry(
        K::PolicyDecision,
        "denied",
        &format!("user:{BERTIL}"),
        "purpose:phone-canvassing",
        with(scope(), json!({ "code": "not_permitted" })),
    );
    let told = tell(Lang::Sv, &known, &refused);
    assert_eq!(
        told.sentence,
        "bertil nekades en lista för Telefonkampanj i Uppsala: rollerna tillåter det inte."
    );
    assert_eq!((told.outcome.as_str(), told.refused), ("Nekades", true));
    let gone = entry(
        K::SignedOut,
        "success",
        "user:ffffffffffffffffffffffffffffffff",
        "user:x",
        json!({ "ip": "10.0.0.7" }),
    );
    assert_eq!(
        tell(Lang::Sv, &known, &gone).sentence,
        "Ett okänt konto loggade ut."
    );
    let cli = entry(
        K::StoreInitialised,
        "success",
        "cli:root",
        "store",
        json!({ "backend": "postgres" }),
    );
    assert_eq!(
        tell(Lang::En, &known, &cli).sentence,
        "root at the command line prepared the database (postgres)."
    );
    let unknown = entry(K::SignedOut, "success", "system", "x", json!({}));
    let unknown = Entry {
        action: "nothing.known".into(),
        ..unknown
    };
    assert_eq!(
        tell(Lang::Sv, &known, &unknown).sentence,
        text(Lang::Sv, "events.unknown")
    );
}

#[test]
fn placeholders_are_filled_once_and_plural_forms_follow_the_number() {
    let shown = fill("{n} {n|rad|rader}, {who}", |name| match name {
        "n" => "1".into(),
        _ => "{n}".into(),
    });
    assert_eq!(shown, "1 rad, {n}", "a value is never filled again");
    assert_eq!(fill("{n|a|b}", |_| "2".into()), "b");
    assert_eq!(fill("no end {", |_| String::new()), "no end {");
}

#[test]
fn the_filter_lists_every_kind_once_by_area() {
    for lang in Lang::ALL {
        let areas = kinds_by_area(lang);
        let codes: Vec<&str> = areas
            .iter()
            .flat_map(|(_, k)| k.iter().map(|(c, _)| *c))
            .collect();
        assert_eq!(codes.len(), K::ALL.len());
        for kind in K::ALL {
            assert!(codes.contains(&kind.code()), "{}", kind.code());
        }
        assert!(
            areas
                .iter()
                .all(|(name, kinds)| !name.contains('.') && !kinds.is_empty())
        );
    }
}

#[test]
fn an_auditor_is_told_why_an_extract_ended_in_the_third_person() {
    assert_eq!(
        end_reason(Lang::Sv, "done"),
        "begäraren var klar med listan"
    );
    assert_eq!(end_reason(Lang::En, "expired"), "the time ran out");
    // Reasons the catalogue tells the same to everyone come from `end_reasons`.
    assert_eq!(
        end_reason(Lang::Sv, "not_decided_in_time"),
        "ingen beslutade i tid"
    );
}

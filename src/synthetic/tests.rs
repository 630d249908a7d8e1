use super::*;

#[test]
fn the_same_seed_gives_the_same_members_and_another_seed_does_not() {
    let a: Vec<_> = generate(200, 7).collect();
    let b: Vec<_> = generate(200, 7).collect();
    let c: Vec<_> = generate(200, 8).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.first().unwrap().member_id, 1);
    assert_eq!(a.last().unwrap().member_id, 200);
}

#[test]
fn the_luhn_digit_matches_the_tax_agency_example() {
    // Skatteverket's published example number 811218-9876.
    assert_eq!(luhn_check_digit("811218987"), 6);
}

#[test]
fn personal_numbers_agree_with_the_birth_date_and_pass_luhn() {
    for m in generate(500, 1) {
        let pn = &m.personal_number;
        assert_eq!(pn.len(), 13, "{pn}");
        let ymd = m.birth_date.to_string().replace('-', "");
        assert!(pn.starts_with(&ymd), "{pn} vs {ymd}");
        let nine = format!("{}{}", &pn[2..8], &pn[9..12]);
        assert_eq!(luhn_check_digit(&nine), pn[12..].parse::<u32>().unwrap());
    }
}

#[test]
fn the_catalogues_are_large_enough_and_swedish_looking() {
    assert!(FIRST_NAMES.len() >= 60 && LAST_NAMES.len() >= 60);
    assert!(
        FIRST_NAMES
            .iter()
            .any(|n| n.contains(['å', 'ä', 'ö', 'Å', 'Ö']))
    );
    assert_eq!(DISTRICTS.iter().map(|d| d.weight).sum::<u32>(), 100);
    assert!(
        DISTRICTS
            .iter()
            .all(|d| (3..=8).contains(&d.branches.len()))
    );
}

#[test]
fn the_flags_have_roughly_the_intended_shares() {
    let members: Vec<_> = generate(20_000, 42).collect();
    let share = |f: &dyn Fn(&SyntheticMember) -> bool| {
        members.iter().filter(|m| f(m)).count() as f64 / members.len() as f64
    };
    let protected = share(&|m| m.protected_identity == Some(true));
    assert!((0.002..0.01).contains(&protected), "{protected}");
    let email = share(&|m| m.consent_email == Some(true));
    assert!((0.64..0.73).contains(&email), "{email}");
    let active = share(&|m| m.membership_status == "active");
    assert!(active > 0.8, "{active}");
    assert!(members.iter().all(|m| m.joined_on >= m.birth_date));
    let uppsala = share(&|m| m.district == "Uppsala");
    assert!((0.09..0.11).contains(&uppsala), "{uppsala}");
}

#[test]
fn canaries_carry_a_unique_marker_and_ids_outside_the_generated_range() {
    let a = canary(1);
    let b = canary(2);
    assert!(a.first_name.contains(&canary_marker(1)));
    assert!(
        a.email
            .as_deref()
            .unwrap()
            .contains(&canary_marker(1).to_ascii_lowercase())
    );
    assert_ne!(canary_marker(1), canary_marker(2));
    assert_ne!(a.member_id, b.member_id);
    assert!(a.member_id >= CANARY_ID_BASE);
}

#[test]
fn the_demo_columns_map_every_field() {
    let cols = demo_columns();
    assert_eq!(cols.len(), Field::ALL.len());
    assert_eq!(cols["protected_identity"], "skyddad_identitet");
}

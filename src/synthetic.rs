//! Deterministic synthetic members for the demo, the tests and the benchmark.
//!
//! Guarantees: the same `(count, seed)` always yields the same members (ChaCha8); names,
//! districts and branches look Swedish; personal numbers are well-formed
//! (`YYYYMMDD-NNNC`, Luhn check digit over `YYMMDDNNN`) and agree with the birth date;
//! e-mail addresses use the reserved `example.*` domains. Member ids run from 1.
//! None of this is real data and it must never be mixed with a real register.

use crate::nouns::Field;
use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::{Date, Duration};

mod data;

pub use data::{DISTRICTS, District};
use data::{FIRST_NAMES, LAST_NAMES, STREETS};

/// The demo register's table name.
pub const DEMO_TABLE: &str = "medlemmar";

/// Canary member ids start here, above anything [`generate`] produces in practice.
pub const CANARY_ID_BASE: u64 = 1_000_000_000;

/// One synthetic member. Flags are `Option` so tests can store NULLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticMember {
    pub member_id: u64,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub street_address: String,
    pub postal_code: String,
    pub city: String,
    pub birth_date: Date,
    pub personal_number: String,
    pub district: String,
    pub local_branch: String,
    pub membership_status: String,
    pub joined_on: Date,
    pub consent_email: Option<bool>,
    pub consent_phone: Option<bool>,
    pub consent_sms: Option<bool>,
    pub consent_post: Option<bool>,
    pub protected_identity: Option<bool>,
}

/// Fixed percentages (per mille for protected identity) the generator draws from.
const CONSENT_PERCENT: [u32; 4] = [70, 50, 40, 60]; // email, phone, sms, post
const NULL_CONSENT_PERCENT: u32 = 2;
const PROTECTED_PER_MILLE: u32 = 5;

/// `count` members with ids `1..=count`, the same for the same `seed`.
pub fn generate(count: u64, seed: u64) -> impl Iterator<Item = SyntheticMember> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (1..=count).map(move |id| member(&mut rng, id))
}

/// A member whose names and e-mail contain [`canary_marker`]`(seed)`, so a test can scan
/// disks and logs for it. Its id is `CANARY_ID_BASE + seed % CANARY_ID_BASE`.
pub fn canary(seed: u64) -> SyntheticMember {
    let marker = canary_marker(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6b61_6e61_7269_6521);
    let mut m = member(&mut rng, CANARY_ID_BASE + seed % CANARY_ID_BASE);
    m.first_name = marker.clone();
    m.last_name = format!("{marker}sson");
    m.email = Some(format!("{}@example.org", marker.to_ascii_lowercase()));
    m.street_address = format!("{marker}vägen 1");
    m.protected_identity = Some(false);
    // A member, so that a request with the default statuses holds it.
    m.membership_status = "active".to_owned();
    m
}

/// The unique string inside [`canary`]`(seed)`'s fields, e.g. `Kanarie3f9a0c1d2e4b`.
pub fn canary_marker(seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6361_6e61_7279_0001);
    format!("Kanarie{:012x}", rng.r#gen::<u64>() & 0xffff_ffff_ffff)
}

/// The demo register's Swedish column names for every field.
pub fn demo_columns() -> BTreeMap<String, String> {
    Field::ALL
        .into_iter()
        .map(|f| (f.as_str().to_owned(), demo_column(f).to_owned()))
        .collect()
}

/// The demo register's column for `field`.
pub fn demo_column(field: Field) -> &'static str {
    match field {
        Field::MemberId => "medlemsnr",
        Field::FirstName => "fornamn",
        Field::LastName => "efternamn",
        Field::Email => "epost",
        Field::Phone => "telefon",
        Field::StreetAddress => "gatuadress",
        Field::PostalCode => "postnummer",
        Field::City => "ort",
        Field::BirthDate => "fodelsedatum",
        Field::PersonalNumber => "personnummer",
        Field::District => "distrikt",
        Field::LocalBranch => "lokalforening",
        Field::MembershipStatus => "status",
        Field::JoinedOn => "medlem_sedan",
        Field::ConsentEmail => "samtycke_epost",
        Field::ConsentPhone => "samtycke_telefon",
        Field::ConsentSms => "samtycke_sms",
        Field::ConsentPost => "samtycke_post",
        Field::ProtectedIdentity => "skyddad_identitet",
    }
}

impl SyntheticMember {
    /// The value of `field` as the register connector returns it (dates `YYYY-MM-DD`,
    /// flags `true`/`false`), for comparing rows in tests.
    pub fn value(&self, field: Field) -> Option<String> {
        let flag = |b: Option<bool>| b.map(|b| b.to_string());
        match field {
            Field::MemberId => Some(self.member_id.to_string()),
            Field::FirstName => Some(self.first_name.clone()),
            Field::LastName => Some(self.last_name.clone()),
            Field::Email => self.email.clone(),
            Field::Phone => self.phone.clone(),
            Field::StreetAddress => Some(self.street_address.clone()),
            Field::PostalCode => Some(self.postal_code.clone()),
            Field::City => Some(self.city.clone()),
            Field::BirthDate => Some(self.birth_date.to_string()),
            Field::PersonalNumber => Some(self.personal_number.clone()),
            Field::District => Some(self.district.clone()),
            Field::LocalBranch => Some(self.local_branch.clone()),
            Field::MembershipStatus => Some(self.membership_status.clone()),
            Field::JoinedOn => Some(self.joined_on.to_string()),
            Field::ConsentEmail => flag(self.consent_email),
            Field::ConsentPhone => flag(self.consent_phone),
            Field::ConsentSms => flag(self.consent_sms),
            Field::ConsentPost => flag(self.consent_post),
            Field::ProtectedIdentity => flag(self.protected_identity),
        }
    }
}

fn member(rng: &mut ChaCha8Rng, member_id: u64) -> SyntheticMember {
    let first = pick(rng, FIRST_NAMES);
    let last = pick(rng, LAST_NAMES);
    let district = pick_district(rng);
    let (branch, city, postal) = *pick(rng, district.branches);
    let birth_date = random_date(rng, (1935, 1, 1), (2008, 12, 31));
    let joined_on = random_date(rng, (1990, 1, 1), (2026, 3, 31)).max(adult(birth_date));
    let status = match rng.gen_range(0..100) {
        0..85 => "active",
        85..92 => "paused",
        _ => "resigned",
    };
    let mut consents = CONSENT_PERCENT.map(|p| {
        (rng.gen_range(0..100) >= NULL_CONSENT_PERCENT).then(|| rng.gen_range(0..100) < p)
    });
    SyntheticMember {
        member_id,
        email: (rng.gen_range(0..100) < 92).then(|| {
            email(
                first,
                last,
                rng.gen_range(1..100),
                pick::<&str>(rng, &["org", "com", "net"]),
            )
        }),
        phone: (rng.gen_range(0..100) < 90).then(|| phone(rng)),
        street_address: format!("{} {}", pick(rng, STREETS), rng.gen_range(1..120)),
        postal_code: format!("{postal} {:02}", rng.gen_range(0..100)),
        city: city.to_owned(),
        personal_number: personal_number(birth_date, rng.gen_range(0..1000)),
        birth_date,
        first_name: (*first).to_owned(),
        last_name: (*last).to_owned(),
        district: district.name.to_owned(),
        local_branch: branch.to_owned(),
        membership_status: status.to_owned(),
        joined_on,
        consent_email: consents[0].take(),
        consent_phone: consents[1].take(),
        consent_sms: consents[2].take(),
        consent_post: consents[3].take(),
        protected_identity: Some(rng.gen_range(0..1000) < PROTECTED_PER_MILLE),
    }
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

fn pick_district(rng: &mut ChaCha8Rng) -> &'static District {
    let mut roll = rng.gen_range(0..100u32);
    for d in DISTRICTS {
        if roll < d.weight {
            return d;
        }
        roll -= d.weight;
    }
    &DISTRICTS[0]
}

/// A uniformly random day between two (year, month, day) triples, inclusive.
fn random_date(rng: &mut ChaCha8Rng, from: (i32, u8, u8), to: (i32, u8, u8)) -> Date {
    let day = |(y, m, d): (i32, u8, u8)| {
        time::Month::try_from(m)
            .ok()
            .and_then(|m| Date::from_calendar_date(y, m, d).ok())
            .map_or(0, Date::to_julian_day)
    };
    let julian = rng.gen_range(day(from)..=day(to));
    Date::from_julian_day(julian).unwrap_or(Date::MIN)
}

/// Fifteen years after birth: nobody joins the party younger.
fn adult(birth: Date) -> Date {
    birth.saturating_add(Duration::days(15 * 365 + 4))
}

fn email(first: &str, last: &str, n: u32, tld: &str) -> String {
    let ascii = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                'å' | 'ä' | 'Å' | 'Ä' => 'a',
                'ö' | 'Ö' => 'o',
                'é' => 'e',
                c => c.to_ascii_lowercase(),
            })
            .collect()
    };
    format!("{}.{}{n}@example.{tld}", ascii(first), ascii(last))
}

fn phone(rng: &mut ChaCha8Rng) -> String {
    format!(
        "07{}-{:03} {:02} {:02}",
        pick::<u8>(rng, &[0, 2, 3, 6]),
        rng.gen_range(0..1000),
        rng.gen_range(0..100),
        rng.gen_range(0..100)
    )
}

/// `YYYYMMDD-NNNC` with C the Luhn check digit over `YYMMDDNNN`.
pub fn personal_number(birth: Date, serial: u16) -> String {
    let ymd = format!(
        "{:04}{:02}{:02}",
        birth.year(),
        u8::from(birth.month()),
        birth.day()
    );
    let serial = format!("{:03}", serial % 1000);
    let check = luhn_check_digit(&format!("{}{serial}", &ymd[2..]));
    format!("{ymd}-{serial}{check}")
}

/// The digit that makes `digits` followed by it pass the Luhn test (weights 2,1,2,… from the left
/// for the nine-digit Swedish form).
pub fn luhn_check_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .chars()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            let p = if i % 2 == 0 { d * 2 } else { d };
            p / 10 + p % 10
        })
        .sum();
    (10 - sum % 10) % 10
}

#[cfg(test)]
mod tests;

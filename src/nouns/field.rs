//! The field catalogue: every piece of member data Registervakt knows how to read.
//!
//! Guarantees: the set of fields is closed (an enum), each field has exactly one
//! sensitivity class and one value kind, and parsing a field name never guesses — an
//! unknown name is an error that lists the known names. This module never touches a
//! database and never sees member data.

use std::fmt;
use std::str::FromStr;

use super::Error;

/// A piece of member data that can be mapped to a register column and requested in an extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    MemberId,
    FirstName,
    LastName,
    Email,
    Phone,
    StreetAddress,
    PostalCode,
    City,
    BirthDate,
    PersonalNumber,
    District,
    LocalBranch,
    MembershipStatus,
    JoinedOn,
    ConsentEmail,
    ConsentPhone,
    ConsentSms,
    ConsentPost,
    ProtectedIdentity,
}

/// How much harm a field does when it leaks; drives policy (e.g. sensitive fields need two approvers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sensitivity {
    /// Who the member is — and, because the register is a party's, that they are a member.
    Identity,
    /// How to reach the member directly.
    Contact,
    /// Where the member lives.
    Address,
    /// Identifies a person across all of society (personal number, birth date).
    Sensitive,
    /// Yes/no flags about consent and protection.
    Flag,
}

/// The shape of a field's values, used to normalise what different databases store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    Text,
    /// Normalised to `YYYY-MM-DD`.
    Date,
    /// Normalised to `true` / `false`.
    Bool,
}

impl Field {
    /// Every field, in catalogue order.
    pub const ALL: [Field; 19] = [
        Field::MemberId,
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Phone,
        Field::StreetAddress,
        Field::PostalCode,
        Field::City,
        Field::BirthDate,
        Field::PersonalNumber,
        Field::District,
        Field::LocalBranch,
        Field::MembershipStatus,
        Field::JoinedOn,
        Field::ConsentEmail,
        Field::ConsentPhone,
        Field::ConsentSms,
        Field::ConsentPost,
        Field::ProtectedIdentity,
    ];

    /// The stable name used in config, policies, API and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::MemberId => "member_id",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::StreetAddress => "street_address",
            Field::PostalCode => "postal_code",
            Field::City => "city",
            Field::BirthDate => "birth_date",
            Field::PersonalNumber => "personal_number",
            Field::District => "district",
            Field::LocalBranch => "local_branch",
            Field::MembershipStatus => "membership_status",
            Field::JoinedOn => "joined_on",
            Field::ConsentEmail => "consent_email",
            Field::ConsentPhone => "consent_phone",
            Field::ConsentSms => "consent_sms",
            Field::ConsentPost => "consent_post",
            Field::ProtectedIdentity => "protected_identity",
        }
    }

    pub fn sensitivity(self) -> Sensitivity {
        match self {
            Field::MemberId | Field::FirstName | Field::LastName => Sensitivity::Identity,
            // District, branch, status and joining date describe the membership itself, and
            // in a party's register membership *is* the Art. 9 fact (political opinion), so
            // they are classed with identity rather than treated as harmless metadata.
            Field::District | Field::LocalBranch | Field::MembershipStatus | Field::JoinedOn => {
                Sensitivity::Identity
            }
            Field::Email | Field::Phone => Sensitivity::Contact,
            Field::StreetAddress | Field::PostalCode | Field::City => Sensitivity::Address,
            Field::BirthDate | Field::PersonalNumber => Sensitivity::Sensitive,
            Field::ConsentEmail
            | Field::ConsentPhone
            | Field::ConsentSms
            | Field::ConsentPost
            | Field::ProtectedIdentity => Sensitivity::Flag,
        }
    }

    pub fn kind(self) -> FieldKind {
        match self {
            Field::BirthDate | Field::JoinedOn => FieldKind::Date,
            Field::ConsentEmail
            | Field::ConsentPhone
            | Field::ConsentSms
            | Field::ConsentPost
            | Field::ProtectedIdentity => FieldKind::Bool,
            _ => FieldKind::Text,
        }
    }

    /// The known names, comma-separated, for error messages.
    pub fn known_names() -> String {
        Field::ALL
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromStr for Field {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Field::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| Error::UnknownField {
                name: s.to_owned(),
                known: Field::known_names(),
            })
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A consent a purpose may require; maps to a `consent_*` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsentFlag {
    Email,
    Phone,
    Sms,
    Post,
}

impl ConsentFlag {
    pub fn field(self) -> Field {
        match self {
            ConsentFlag::Email => Field::ConsentEmail,
            ConsentFlag::Phone => Field::ConsentPhone,
            ConsentFlag::Sms => Field::ConsentSms,
            ConsentFlag::Post => Field::ConsentPost,
        }
    }
}

impl Sensitivity {
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Identity => "identity",
            Sensitivity::Contact => "contact",
            Sensitivity::Address => "address",
            Sensitivity::Sensitive => "sensitive",
            Sensitivity::Flag => "flag",
        }
    }
}

impl fmt::Display for Sensitivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_name_parses_back_to_the_same_field() {
        for field in Field::ALL {
            assert_eq!(field.as_str().parse::<Field>().unwrap(), field);
        }
    }

    #[test]
    fn an_unknown_field_name_is_named_and_the_known_ones_listed() {
        let err = "telefon".parse::<Field>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`telefon`") && msg.contains("phone"), "{msg}");
    }

    #[test]
    fn membership_fields_are_classed_as_identity() {
        for f in [
            Field::District,
            Field::LocalBranch,
            Field::MembershipStatus,
            Field::JoinedOn,
        ] {
            assert_eq!(f.sensitivity(), Sensitivity::Identity);
        }
        assert_eq!(Field::PersonalNumber.sensitivity(), Sensitivity::Sensitive);
        assert_eq!(Field::ProtectedIdentity.sensitivity().as_str(), "flag");
    }

    #[test]
    fn dates_and_flags_have_their_own_kinds() {
        assert_eq!(Field::BirthDate.kind(), FieldKind::Date);
        assert_eq!(Field::ConsentSms.kind(), FieldKind::Bool);
        assert_eq!(Field::City.kind(), FieldKind::Text);
    }
}

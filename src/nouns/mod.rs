//! The shared nouns: roles, usernames, districts, the field catalogue, an extract's states and
//! call outcomes, which the policy, sign-in, the register connector and the extract code all
//! speak of. They sit below all of them, so none of those needs another to name what it is about.
//!
//! Guarantees: each noun is a closed enum or a newtype that can only be made by parsing; a
//! refused text gets an error that says what is allowed and, for a field, lists the known
//! names. Nothing here touches a database, the policy or member data.

mod call_outcome;
mod district;
mod extract_state;
mod field;
mod role;
mod username;

pub use call_outcome::CallOutcome;
pub use district::DistrictCode;
pub use extract_state::{ExtractState, ShredReason};
pub use field::{ConsentFlag, Field, FieldKind, Sensitivity};
pub use role::{Role, RoleGrant, Scope};
pub use username::Username;

/// A text that is not a valid noun. The message says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("`{name}` is not a known field (known: {known})")]
    UnknownField { name: String, known: String },
    #[error("invalid district code: {0}")]
    InvalidDistrict(&'static str),
    #[error("{0}")]
    BadInput(String),
}

//! The words of a file's header row: the stable field ids (`member_id`, what the API gives by
//! default and what every file had before issue 18) or each field's name in the requester's
//! language (`Medlemsnummer`, what staff get from the pages).
//!
//! The names are the language catalogues' (`src/web/locales`), which the domain does not read:
//! the caller that knows the language passes them in ([`FieldNames::named`]); here they are
//! only placed. Guarantees: every field has a non-empty header cell (a missing or blank name
//! falls back to the id).

use crate::nouns::Field;

/// A header cell for every field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldNames {
    /// Empty: the ids.
    names: Vec<(Field, String)>,
}

impl FieldNames {
    /// The stable ids (`member_id`, `first_name`, …).
    pub fn ids() -> FieldNames {
        FieldNames::default()
    }

    /// Each field's name as `name` gives it (the caller's catalogue, in one language).
    pub fn named(name: impl Fn(Field) -> String) -> FieldNames {
        let names = Field::ALL
            .into_iter()
            .map(|field| (field, name(field)))
            .filter(|(_, text)| !text.trim().is_empty())
            .collect();
        FieldNames { names }
    }

    /// The header cell of `field`.
    pub fn of(&self, field: Field) -> &str {
        self.names
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(field.as_str(), |(_, text)| text.as_str())
    }

    /// The header cells of `fields`, in their order.
    pub fn header(&self, fields: &[Field]) -> Vec<&str> {
        fields.iter().map(|f| self.of(*f)).collect()
    }
}

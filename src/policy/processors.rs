//! Processors (personuppgiftsbiträden): the printers and mailing houses the party has a
//! data-processing agreement with, as `[[processor]]` entries of `purposes.toml`. A purpose
//! that lists a processor (`processors = ["…"]`) may hand an extract over to it.
//!
//! Keeping them in the catalogue means registering, changing or ending one goes through the
//! same four-eyes policy change as a purpose, and every version is kept.
//!
//! Guarantees: a processor has a slug id, a name, a contact address that looks like one
//! e-mail address, an agreement reference and the agreement's last day; two processors never
//! share an id; a purpose never names a processor the catalogue lacks. Whether an agreement
//! is in force is a question with `now` as an argument ([`Processor::agreement_in_force`]).
//!
//! Must never: read the clock, or accept a contact with a line break (it goes into a mail
//! header).

use std::fmt;

use time::{Date, OffsetDateTime, UtcOffset, macros::format_description};

use super::{Error, PURPOSES_FILE};

/// A processor's id: the same shape as a purpose id (1–64 lowercase letters, digits, `-`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessorId(String);

impl ProcessorId {
    pub fn parse(s: &str) -> Result<ProcessorId, Error> {
        if super::purposes::is_slug(s) {
            Ok(ProcessorId(s.to_owned()))
        } else {
            Err(Error::BadInput(format!(
                "{s:?} is not a processor id: use 1–64 lowercase letters, digits and single \
                 '-', starting with a letter"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProcessorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One registered processor, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processor {
    pub id: ProcessorId,
    /// The processor's name as people know it ("Tryckeriet i Norrland AB").
    pub name: String,
    /// Where the hand-over link and its one-time code are sent: one e-mail address.
    pub contact: String,
    /// The data-processing agreement's reference (personuppgiftsbiträdesavtal).
    pub agreement_ref: String,
    /// The agreement's last day (inclusive, UTC): after it nothing is handed over.
    pub agreement_ends: Date,
}

impl Processor {
    /// Whether the agreement still holds on `now`'s UTC date.
    pub fn agreement_in_force(&self, now: OffsetDateTime) -> bool {
        now.to_offset(UtcOffset::UTC).date() <= self.agreement_ends
    }
}

/// The processors of a catalogue's text (already checked whole by `parse_catalogue`).
pub fn parse(text: &str) -> Result<Vec<Processor>, Error> {
    let raw: super::purposes::raw::Catalogue =
        toml::from_str(text).map_err(|e| Error::Invalid {
            file: PURPOSES_FILE.to_owned(),
            line: None,
            message: e.message().trim().to_owned(),
            problem: None,
        })?;
    validate(raw.processor)
}

/// The `[[processor]]` entries of a catalogue, validated.
pub(crate) fn validate(raw: Vec<super::purposes::raw::Processor>) -> Result<Vec<Processor>, Error> {
    let mut out: Vec<Processor> = Vec::with_capacity(raw.len());
    for p in raw {
        let id = ProcessorId::parse(&p.id).map_err(|e| invalid(&p.id, &e.to_string()))?;
        if out.iter().any(|q| q.id == id) {
            return Err(invalid(&p.id, "another [[processor]] has the same id"));
        }
        for (key, value) in [("name", &p.name), ("agreement_ref", &p.agreement_ref)] {
            if crate::text::Rule::one_line(1, 200).check(value).is_err() {
                return Err(invalid(
                    &p.id,
                    &format!("{key} must be one line of 1–200 characters"),
                ));
            }
        }
        if !looks_like_address(&p.contact) {
            return Err(invalid(
                &p.id,
                "contact must be one e-mail address, like tryck@example.se",
            ));
        }
        let agreement_ends = Date::parse(
            &p.agreement_ends,
            format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| invalid(&p.id, "agreement_ends must be a date like 2027-12-31"))?;
        out.push(Processor {
            id,
            name: p.name.trim().to_owned(),
            contact: p.contact.trim().to_owned(),
            agreement_ref: p.agreement_ref.trim().to_owned(),
            agreement_ends,
        });
    }
    Ok(out)
}

/// One address: something@domain.tld, no spaces, no line breaks, no second `@`.
fn looks_like_address(s: &str) -> bool {
    let s = s.trim();
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && s.len() <= 254
        && !s.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
        })
}

fn invalid(id: &str, message: &str) -> Error {
    Error::Invalid {
        file: PURPOSES_FILE.to_owned(),
        line: None,
        message: format!("processor {id:?}: {message}"),
        problem: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn raw(id: &str, contact: &str, ends: &str) -> super::super::purposes::raw::Processor {
        super::super::purposes::raw::Processor {
            id: id.into(),
            name: "Tryckeriet AB".into(),
            contact: contact.into(),
            agreement_ref: "PUB-2026-04".into(),
            agreement_ends: super::super::purposes::raw::DateText(ends.into()),
        }
    }

    #[test]
    fn an_agreement_holds_through_its_last_day_and_not_after() {
        let p = validate(vec![raw("tryckeriet", "tryck@example.se", "2027-01-31")])
            .unwrap()
            .remove(0);
        assert!(p.agreement_in_force(datetime!(2027-01-31 23:59 UTC)));
        assert!(!p.agreement_in_force(datetime!(2027-02-01 00:00 UTC)));
    }

    #[test]
    fn a_contact_that_is_not_one_address_is_refused() {
        for bad in [
            "",
            "tryck",
            "a@b",
            "a@b.se\r\nBcc: x@y.se",
            "a@b.se, c@d.se",
            "a b@c.se",
        ] {
            assert!(
                validate(vec![raw("t", bad, "2027-01-31")]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_shipped_printer_purpose_hands_over_only_to_its_registered_printer() {
        let text = crate::policy::Texts::shipped().purposes;
        let processors = parse(&text).unwrap();
        let purposes = crate::policy::parse_catalogue(&text).unwrap();
        let printer = purposes
            .iter()
            .find(|p| p.id.as_str() == "member-magazine-printing")
            .unwrap();
        assert!(printer.formats.is_empty(), "hand-over only");
        assert_eq!(printer.processors.len(), 1);
        assert!(processors.iter().any(|p| p.id == printer.processors[0]));
        // A purpose naming a processor the catalogue lacks is refused at load.
        let broken = text.replace(
            "processors = [\"tryckeriet-norr\"]",
            "processors = [\"tryckeriet-syd\"]",
        );
        assert!(crate::policy::parse_catalogue(&broken).is_err());
    }

    #[test]
    fn two_processors_with_one_id_and_a_bad_date_are_refused() {
        let two = vec![
            raw("t", "a@b.se", "2027-01-31"),
            raw("t", "c@d.se", "2027-01-31"),
        ];
        assert!(validate(two).is_err());
        assert!(validate(vec![raw("t", "a@b.se", "31/1 2027")]).is_err());
    }
}

//! Filters on the member register: structured values, never SQL text.
//!
//! Guarantees: a filter is validated against the mapping before any query is built (limits,
//! ranges, and that every filtered field is mapped); translation produces conditions whose
//! values are bound parameters. Protected identity fails closed: with
//! [`ProtectedIdentity::Exclude`] a member is included only when the protected-identity
//! column holds an explicit false, so a NULL (or unreadable) flag counts as protected.
//! Time is an argument (`today`); this module never reads the clock.

use std::collections::BTreeSet;

use time::{Date, Month};

use super::{Error, Mapping};
use crate::nouns::{ConsentFlag, DistrictCode, Field};
use crate::store::register::{Condition, Value};

/// Longest lists of branches or statuses in one filter; more is a misuse, not a need.
pub const MAX_LIST: usize = 100;
/// Longest branch or status value accepted.
pub const MAX_VALUE_CHARS: usize = 200;
/// A branch or status value: one line of 1 to [`MAX_VALUE_CHARS`] characters, taken exactly
/// as sent (it must equal what the register holds), without the characters [`crate::text`]
/// refuses in any free text.
pub const FILTER_VALUE: crate::text::Rule = crate::text::Rule::one_line(1, MAX_VALUE_CHARS);
/// Oldest age a band may name.
pub const MAX_AGE: u8 = 130;

/// An inclusive age band in whole years, on the day given to the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeBand {
    pub min: u8,
    pub max: u8,
}

impl AgeBand {
    pub fn new(min: u8, max: u8) -> Result<AgeBand, Error> {
        let band = AgeBand { min, max };
        band.validate()?;
        Ok(band)
    }

    fn validate(self) -> Result<(), Error> {
        if self.min > self.max || self.max > MAX_AGE {
            return Err(Error::InvalidFilter(format!(
                "the age band must satisfy min <= max <= {MAX_AGE}"
            )));
        }
        Ok(())
    }

    /// Birth dates in the band on `today`: `(today − (max+1) years, today − min years]`.
    pub fn birth_date_bounds(self, today: Date) -> Result<(Date, Date), Error> {
        let oldest_excluded = years_before(today, u16::from(self.max) + 1)?;
        let youngest_included = years_before(today, u16::from(self.min))?;
        Ok((oldest_excluded, youngest_included))
    }
}

/// The same day `years` earlier. 29 February becomes 28 February in a common year: someone
/// born on 28 February has had their birthday by then, someone born on 1 March has not, and
/// someone born on 29 February is treated as having their birthday on 1 March in common years.
pub fn years_before(today: Date, years: u16) -> Result<Date, Error> {
    let year = today.year() - i32::from(years);
    let day =
        if today.month() == Month::February && today.day() == 29 && !time::util::is_leap_year(year)
        {
            28
        } else {
            today.day()
        };
    Date::from_calendar_date(year, today.month(), day)
        .map_err(|_| Error::InvalidFilter("the age band reaches outside the calendar".to_owned()))
}

/// Whether members with protected identity (skyddade personuppgifter) may be included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtectedIdentity {
    /// The default: only members whose flag is explicitly false are included.
    #[default]
    Exclude,
    /// Only when a caller explicitly asks (e.g. an auditor answering a member's own request).
    Include,
}

/// Which members an extract or count covers. Every list is ANDed; values within a list ORed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub district: DistrictCode,
    /// Empty means all branches of the district.
    pub local_branches: Vec<String>,
    /// Empty means every status.
    pub statuses: Vec<String>,
    /// Inclusive.
    pub joined_from: Option<Date>,
    /// Inclusive.
    pub joined_to: Option<Date>,
    pub age: Option<AgeBand>,
    pub require_consent: Vec<ConsentFlag>,
}

impl Filter {
    /// Everyone in `district`, no other condition.
    pub fn district(district: DistrictCode) -> Filter {
        Filter {
            district,
            local_branches: Vec::new(),
            statuses: Vec::new(),
            joined_from: None,
            joined_to: None,
            age: None,
            require_consent: Vec::new(),
        }
    }

    /// Checks limits and ranges, and that each filtered field is mapped.
    pub fn validate(&self, mapping: &Mapping) -> Result<(), Error> {
        check_list("local branches", &self.local_branches)?;
        check_list("statuses", &self.statuses)?;
        if let (Some(from), Some(to)) = (self.joined_from, self.joined_to)
            && from > to
        {
            return Err(Error::InvalidFilter(
                "joined_from is after joined_to".to_owned(),
            ));
        }
        if let Some(age) = self.age {
            age.validate()?;
        }
        for field in self.fields_used() {
            if mapping.column(field).is_none() {
                return Err(Error::FilterOnUnmappedField { field });
            }
        }
        Ok(())
    }

    /// Fields this filter needs mapped (district is always mapped).
    fn fields_used(&self) -> Vec<Field> {
        let mut used = Vec::new();
        if !self.local_branches.is_empty() {
            used.push(Field::LocalBranch);
        }
        if !self.statuses.is_empty() {
            used.push(Field::MembershipStatus);
        }
        if self.joined_from.is_some() || self.joined_to.is_some() {
            used.push(Field::JoinedOn);
        }
        if self.age.is_some() {
            used.push(Field::BirthDate);
        }
        used.extend(self.require_consent.iter().map(|c| c.field()));
        used
    }

    /// The WHERE conditions for the members this filter selects, before protection and
    /// consent are applied. Validates first.
    pub(crate) fn conditions(
        &self,
        mapping: &Mapping,
        today: Date,
    ) -> Result<Vec<Condition>, Error> {
        self.validate(mapping)?;
        let column = |field: Field| mapping.require(field).map(str::to_owned);
        let texts = |values: &[String]| values.iter().cloned().map(Value::Text).collect();
        let mut conditions = vec![Condition::Equals {
            column: mapping.district_column().to_owned(),
            value: Value::Text(self.district.as_str().to_owned()),
        }];
        if !self.local_branches.is_empty() {
            let values = texts(&self.local_branches);
            conditions.push(Condition::OneOf {
                column: column(Field::LocalBranch)?,
                values,
            });
        }
        if !self.statuses.is_empty() {
            let values = texts(&self.statuses);
            conditions.push(Condition::OneOf {
                column: column(Field::MembershipStatus)?,
                values,
            });
        }
        if let Some(from) = self.joined_from {
            conditions.push(Condition::AtLeast {
                column: column(Field::JoinedOn)?,
                value: Value::Date(from),
            });
        }
        if let Some(to) = self.joined_to {
            conditions.push(Condition::AtMost {
                column: column(Field::JoinedOn)?,
                value: Value::Date(to),
            });
        }
        if let Some(age) = self.age {
            let (after, until) = age.birth_date_bounds(today)?;
            let birth = column(Field::BirthDate)?;
            conditions.push(Condition::Above {
                column: birth.clone(),
                value: Value::Date(after),
            });
            conditions.push(Condition::AtMost {
                column: birth,
                value: Value::Date(until),
            });
        }
        Ok(conditions)
    }

    /// The consent columns that must hold an explicit true, without duplicates.
    pub(crate) fn consent_columns(&self, mapping: &Mapping) -> Result<Vec<String>, Error> {
        let flags: BTreeSet<ConsentFlag> = self.require_consent.iter().copied().collect();
        flags
            .into_iter()
            .map(|flag| mapping.require(flag.field()).map(str::to_owned))
            .collect()
    }
}

fn check_list(what: &str, values: &[String]) -> Result<(), Error> {
    if values.len() > MAX_LIST {
        return Err(Error::InvalidFilter(format!(
            "more than {MAX_LIST} {what} in one filter"
        )));
    }
    for value in values {
        FILTER_VALUE.check_exact(value).map_err(|e| {
            Error::InvalidFilter(format!(
                "{what} must be 1 to {MAX_VALUE_CHARS} characters each, as the register holds \
                 them: one {e}"
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

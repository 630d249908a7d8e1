//! What a caller records after calling a member of a call list. A purpose lists the outcomes
//! its callers may choose from (`call_outcomes` in `purposes.toml`); the pages name each in the
//! reader's language.

use std::fmt;

use super::Error;

/// One call's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallOutcome {
    /// Spoke to the member.
    Reached,
    NoAnswer,
    WrongNumber,
    /// To call again later: the member comes back to the caller's list.
    CallBack,
    /// The member asked not to be called again.
    DoNotCall,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 5] = [
        CallOutcome::Reached,
        CallOutcome::NoAnswer,
        CallOutcome::WrongNumber,
        CallOutcome::CallBack,
        CallOutcome::DoNotCall,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Reached => "reached",
            CallOutcome::NoAnswer => "no_answer",
            CallOutcome::WrongNumber => "wrong_number",
            CallOutcome::CallBack => "call_back",
            CallOutcome::DoNotCall => "do_not_call",
        }
    }

    pub fn parse(s: &str) -> Result<CallOutcome, Error> {
        CallOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = CallOutcome::ALL.iter().map(|o| o.as_str()).collect();
                Error::BadInput(format!(
                    "{s:?} is not a call outcome (known: {})",
                    known.join(", ")
                ))
            })
    }

    /// Whether the member stays on the caller's list to be called again.
    pub fn calls_again(self) -> bool {
        self == CallOutcome::CallBack
    }
}

impl fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_reads_back_and_an_unknown_one_names_the_known() {
        for o in CallOutcome::ALL {
            assert_eq!(CallOutcome::parse(o.as_str()), Ok(o));
        }
        let e = CallOutcome::parse("answered").unwrap_err().to_string();
        assert!(e.contains("reached") && e.contains("do_not_call"), "{e}");
    }
}

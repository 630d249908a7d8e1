//! Where an extract is in its life, and why it ended: the words the store keeps and the
//! receipts say, as closed enums.

use super::Error;

/// Where an extract is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtractState {
    Pending,
    Denied,
    /// Nobody decided before the pending deadline.
    Lapsed,
    Building,
    Live,
    Shredded,
    /// The snapshot could not be made (nothing was released).
    Failed,
}

impl ExtractState {
    pub const ALL: [ExtractState; 7] = [
        ExtractState::Pending,
        ExtractState::Denied,
        ExtractState::Lapsed,
        ExtractState::Building,
        ExtractState::Live,
        ExtractState::Shredded,
        ExtractState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExtractState::Pending => "pending",
            ExtractState::Denied => "denied",
            ExtractState::Lapsed => "lapsed",
            ExtractState::Building => "building",
            ExtractState::Live => "live",
            ExtractState::Shredded => "shredded",
            ExtractState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<ExtractState> {
        ExtractState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Still to come or still there: waiting for a decision, being built, or downloadable.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ExtractState::Pending | ExtractState::Building | ExtractState::Live
        )
    }
}

impl std::fmt::Display for ExtractState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for ExtractState {
    type Error = Error;

    /// A stored state this build does not know (the store's fault, never a user's input).
    fn try_from(s: String) -> Result<ExtractState, Error> {
        ExtractState::parse(&s).ok_or_else(|| Error::BadInput("an unknown extract state".into()))
    }
}

impl serde::Serialize for ExtractState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why an extract was shredded: the stable words of the deletion receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShredReason {
    Expired,
    DownloadLimit,
    Done,
    Revoked,
    Frozen,
}

impl ShredReason {
    pub const ALL: [ShredReason; 5] = [
        ShredReason::Expired,
        ShredReason::DownloadLimit,
        ShredReason::Done,
        ShredReason::Revoked,
        ShredReason::Frozen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShredReason::Expired => "expired",
            ShredReason::DownloadLimit => "download_limit",
            ShredReason::Done => "done",
            ShredReason::Revoked => "revoked",
            ShredReason::Frozen => "frozen",
        }
    }

    pub fn parse(s: &str) -> Option<ShredReason> {
        ShredReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_reason_reads_back_from_its_word() {
        for st in ExtractState::ALL {
            assert_eq!(ExtractState::parse(st.as_str()), Some(st));
            assert_eq!(ExtractState::try_from(st.as_str().to_owned()), Ok(st));
        }
        for r in ShredReason::ALL {
            assert_eq!(ShredReason::parse(r.as_str()), Some(r));
        }
        assert!(ExtractState::try_from("Live".to_owned()).is_err());
    }
}

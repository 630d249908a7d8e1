//! A username as people type it and the store keeps it (lowercase).

use super::Error;

/// A username: 3–64 characters of lowercase letters, digits, '.', '-', '_' (stored lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Username, Error> {
        let lower = s.trim().to_lowercase();
        let ok_len = (3..=64).contains(&lower.chars().count());
        let ok_chars = lower
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if ok_len && ok_chars {
            Ok(Username(lower))
        } else {
            Err(Error::BadInput(
                "a username is 3–64 letters, digits, '.', '-' or '_'".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_restricted() {
        assert_eq!(
            Username::parse(" Anna.Berg ").unwrap().as_str(),
            "anna.berg"
        );
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("x\ny").is_err());
    }
}

//! `[passkeys]`: sign-in and step-up with passkeys (WebAuthn), beside or instead of TOTP.
//!
//! Guarantees: the relying party id and origin come from `server.public_url`, never from a
//! request; passkeys need a domain name there (WebAuthn refuses an IP address as a relying
//! party id, WebAuthn L3 §5.1.4.1), so asking for them with an IP address in `public_url` is
//! refused at start-up with the fix, never silently turned off.

use serde::Deserialize;

use super::Error;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeysConfig {
    /// Offer passkeys. Unset: on when `server.public_url` names a domain (such as
    /// `https://registervakt.example.org` or `http://localhost:8080`), off for an IP address.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Where passkeys are bound: the relying party id (the host) and the origin browsers report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    pub id: String,
    pub origin: url::Url,
}

impl PasskeysConfig {
    /// The relying party when passkeys are on; `None` when off; an error when they are asked
    /// for but `public_url` cannot carry them.
    pub fn relying_party(&self, public_url: &str) -> Result<Option<RelyingParty>, Error> {
        let url = url::Url::parse(public_url).map_err(|_| {
            Error::invalid(
                "server.public_url",
                "is not a URL",
                "write it as https://registervakt.example.org",
            )
        })?;
        let domain = match url.host() {
            Some(url::Host::Domain(d)) => Some(d.to_ascii_lowercase()),
            _ => None,
        };
        match (self.enabled, domain) {
            (Some(false), _) | (None, None) => Ok(None),
            (_, Some(id)) => Ok(Some(RelyingParty {
                id,
                origin: url.origin().unicode_serialization().parse().map_err(|_| {
                    Error::invalid(
                        "server.public_url",
                        "has no origin",
                        "write it as https://registervakt.example.org",
                    )
                })?,
            })),
            (Some(true), None) => Err(Error::invalid(
                "passkeys.enabled",
                "is true but server.public_url names an IP address, and a passkey is bound to a domain name",
                "set server.public_url to the name users reach the broker at (https://registervakt.example.org, or http://localhost:PORT on one machine), or set passkeys.enabled = false",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp(enabled: Option<bool>, url: &str) -> Result<Option<RelyingParty>, Error> {
        PasskeysConfig { enabled }.relying_party(url)
    }

    #[test]
    fn passkeys_are_on_by_default_for_a_domain_and_off_for_an_ip_address() {
        let on = rp(None, "https://RV.example.org/").ok().flatten();
        assert_eq!(on.as_ref().map(|r| r.id.as_str()), Some("rv.example.org"));
        assert_eq!(
            on.map(|r| r.origin.to_string()),
            Some("https://rv.example.org/".to_owned())
        );
        let local = rp(None, "http://localhost:8080").ok().flatten();
        assert_eq!(local.map(|r| r.id), Some("localhost".to_owned()));
        assert!(matches!(rp(None, "http://127.0.0.1:8080"), Ok(None)));
        assert!(matches!(rp(None, "http://[::1]:8080"), Ok(None)));
        assert!(matches!(
            rp(Some(false), "https://rv.example.org"),
            Ok(None)
        ));
    }

    #[test]
    fn asking_for_passkeys_with_an_ip_address_is_refused_with_the_fix() {
        let err = rp(Some(true), "http://127.0.0.1:8080")
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("passkeys.enabled"), "{err}");
        assert!(err.contains("localhost"), "{err}");
    }
}

//! Where the copy of the audit log for syslog goes, as configured: `audit.syslog` and
//! `audit.syslog_facility`.
//!
//! Guarantees: [`Destination::parse`] accepts only a scheme (`udp`, `tcp`, `tls`), a host and a
//! port — no user, password, path or query — so the address can be logged and is checked when
//! the configuration loads. Sending lives in `audit::syslog`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// RFC 5426 §3.2: receivers SHOULD take 2048 octets over UDP.
pub const UDP_MAX_LEN: usize = 2048;
/// RFC 5425 §4.3.1's 8192 octets, taken for TCP as well.
pub const TCP_MAX_LEN: usize = 8192;

/// An `audit.syslog` that is not an address this broker can send to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("is not udp://HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT or HOST:PORT ({0})")]
pub struct AddressError(&'static str);

/// RFC 5424 §6.2.1 facilities a broker may sensibly log under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    User,
    Daemon,
    Auth,
    #[default]
    Authpriv,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    pub fn code(self) -> u8 {
        match self {
            Facility::User => 1,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Authpriv => 10,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    /// TCP inside TLS (RFC 5425), the server's certificate and name checked.
    Tls,
}

/// A validated syslog address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub transport: Transport,
    host: String,
    port: u16,
    /// For `tls://`: a PEM file of CA certificates trusted besides Mozilla's roots.
    ca_file: Option<PathBuf>,
}

impl Destination {
    pub fn parse(text: &str) -> Result<Destination, AddressError> {
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("udp://{text}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|_| AddressError("not an address"))?;
        let transport = match url.scheme() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            _ => return Err(AddressError("the scheme must be udp, tcp or tls")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(AddressError("it must not hold a user or password"));
        }
        if !url.path().is_empty() || url.query().is_some() || url.fragment().is_some() {
            return Err(AddressError("it must not have a path or query"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(AddressError("the host is missing")),
        };
        let port = url
            .port()
            .filter(|p| *p != 0)
            .ok_or(AddressError("the port is missing, e.g. :514"))?;
        Ok(Destination {
            transport,
            host,
            port,
            ca_file: None,
        })
    }

    /// The same destination, trusting the CA certificates in `ca_file` (PEM) for `tls://`.
    pub fn with_ca_file(self, ca_file: Option<PathBuf>) -> Destination {
        Destination { ca_file, ..self }
    }

    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The largest message this transport carries whole.
    pub fn max_len(&self) -> usize {
        match self.transport {
            Transport::Udp => UDP_MAX_LEN,
            Transport::Tcp | Transport::Tls => TCP_MAX_LEN,
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn syslog_addresses_parse_and_bad_ones_are_refused() {
        let d = Destination::parse("127.0.0.1:514").unwrap();
        assert_eq!(d.transport, Transport::Udp);
        assert_eq!(d.to_string(), "udp://127.0.0.1:514");
        let d = Destination::parse("tcp://logs.example.org:6514").unwrap();
        assert_eq!((d.transport, d.max_len()), (Transport::Tcp, TCP_MAX_LEN));
        assert_eq!(d.to_string(), "tcp://logs.example.org:6514");
        let d = Destination::parse("tls://logs.example.org:6514").unwrap();
        assert_eq!((d.transport, d.max_len()), (Transport::Tls, TCP_MAX_LEN));
        assert_eq!(d.to_string(), "tls://logs.example.org:6514");
        let d = Destination::parse("udp://[::1]:514").unwrap();
        assert_eq!(d.to_string(), "udp://[::1]:514");
        for bad in [
            "",
            "localhost",
            "udp://127.0.0.1",
            "udp://127.0.0.1:0",
            "http://127.0.0.1:514",
            "tcp://user:pw@127.0.0.1:514",
            "tcp://127.0.0.1:514/x",
            "udp://127.0.0.1:99999",
            "udp://:514",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad:?}");
        }
    }
}

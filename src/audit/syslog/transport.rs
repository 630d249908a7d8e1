//! Where syslog messages go and how: `udp://HOST:PORT` (or bare `HOST:PORT`), one message per
//! datagram (RFC 5426), or `tcp://HOST:PORT` with octet-counting framing, `MSG-LEN SP MSG`
//! (RFC 6587 §3.4.1), which no byte of a message can break.
//!
//! Guarantees: [`Destination::parse`] accepts only a scheme, a host and a port (no user,
//! password, path or query), so the address can be logged; every network step has a timeout,
//! and after a failure the link rests for a few seconds instead of retrying per message.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpStream, UdpSocket};

/// RFC 5426 §3.2: receivers SHOULD take 2048 octets over UDP.
pub const UDP_MAX_LEN: usize = 2048;
/// RFC 5425 §4.3.1's 8192 octets, taken for TCP as well.
pub const TCP_MAX_LEN: usize = 8192;
/// One connect or write longer than this counts as a failure.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failure, messages are dropped (and counted) this long before the next try.
const REST: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("is not udp://HOST:PORT, tcp://HOST:PORT or HOST:PORT ({0})")]
    Address(&'static str),
    #[error("cannot resolve the syslog host")]
    Resolve,
    #[error("the syslog destination failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the syslog destination did not answer in time")]
    Timeout,
    #[error("resting after a failure")]
    Resting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A validated syslog address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub transport: Transport,
    host: String,
    port: u16,
}

impl Destination {
    pub fn parse(text: &str) -> Result<Destination, Error> {
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("udp://{text}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|_| Error::Address("not an address"))?;
        let transport = match url.scheme() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            _ => return Err(Error::Address("the scheme must be udp or tcp")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Address("it must not hold a user or password"));
        }
        if !url.path().is_empty() || url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Address("it must not have a path or query"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(Error::Address("the host is missing")),
        };
        let port = url
            .port()
            .filter(|p| *p != 0)
            .ok_or(Error::Address("the port is missing, e.g. :514"))?;
        Ok(Destination {
            transport,
            host,
            port,
        })
    }

    /// The largest message this transport carries whole.
    pub fn max_len(&self) -> usize {
        match self.transport {
            Transport::Udp => UDP_MAX_LEN,
            Transport::Tcp => TCP_MAX_LEN,
        }
    }

    async fn resolve(&self) -> Result<SocketAddr, Error> {
        let found = tokio::time::timeout(
            STEP_TIMEOUT,
            tokio::net::lookup_host((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| Error::Timeout)??
        .next();
        found.ok_or(Error::Resolve)
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

enum Open {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream),
}

/// A connection made on first use and dropped on failure.
pub(super) struct Link {
    destination: Destination,
    open: Option<Open>,
    resting_until: Option<Instant>,
}

impl Link {
    pub(super) fn new(destination: Destination) -> Link {
        Link {
            destination,
            open: None,
            resting_until: None,
        }
    }

    pub(super) fn destination(&self) -> &Destination {
        &self.destination
    }

    /// Sends one message (connecting first if needed); on failure the link rests.
    pub(super) async fn send(&mut self, message: &[u8]) -> Result<(), Error> {
        if self.resting_until.is_some_and(|t| Instant::now() < t) {
            return Err(Error::Resting);
        }
        let sent = match tokio::time::timeout(STEP_TIMEOUT, self.try_send(message)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout),
        };
        if sent.is_err() {
            self.open = None;
            self.resting_until = Some(Instant::now() + REST);
        } else {
            self.resting_until = None;
        }
        sent
    }

    async fn try_send(&mut self, message: &[u8]) -> Result<(), Error> {
        if self.open.is_none() {
            self.open = Some(self.connect().await?);
        }
        match &mut self.open {
            Some(Open::Udp(socket, to)) => {
                socket.send_to(message, *to).await?;
            }
            Some(Open::Tcp(stream)) => {
                let mut framed = format!("{} ", message.len()).into_bytes();
                framed.extend_from_slice(message);
                stream.write_all(&framed).await?;
            }
            None => return Err(Error::Resolve),
        }
        Ok(())
    }

    async fn connect(&self) -> Result<Open, Error> {
        let to = self.destination.resolve().await?;
        Ok(match self.destination.transport {
            Transport::Udp => {
                let local: SocketAddr = if to.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                Open::Udp(UdpSocket::bind(local).await?, to)
            }
            Transport::Tcp => {
                let stream = TcpStream::connect(to).await?;
                stream.set_nodelay(true)?;
                Open::Tcp(stream)
            }
        })
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

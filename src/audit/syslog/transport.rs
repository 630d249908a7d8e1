//! Where syslog messages go and how: `udp://HOST:PORT` (or bare `HOST:PORT`), one message per
//! datagram (RFC 5426), or `tcp://HOST:PORT` with octet-counting framing, `MSG-LEN SP MSG`
//! (RFC 6587 §3.4.1), which no byte of a message can break.
//!
//! Guarantees: the address is one [`Destination::parse`] took (a scheme, a host and a port
//! only, so it can be logged); every network step has a timeout,
//! and after a failure the link rests for a few seconds instead of retrying per message.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpStream, UdpSocket};

pub use crate::config::syslog::{AddressError, Destination, Transport};

/// One connect or write longer than this counts as a failure.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failure, messages are dropped (and counted) this long before the next try.
const REST: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error("cannot resolve the syslog host")]
    Resolve,
    #[error("the syslog destination failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the syslog destination did not answer in time")]
    Timeout,
    #[error("resting after a failure")]
    Resting,
}

/// Finds the destination's address, within the step timeout.
async fn resolve(destination: &Destination) -> Result<SocketAddr, Error> {
    let found = tokio::time::timeout(
        STEP_TIMEOUT,
        tokio::net::lookup_host((destination.host(), destination.port())),
    )
    .await
    .map_err(|_| Error::Timeout)??
    .next();
    found.ok_or(Error::Resolve)
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
        let to = resolve(&self.destination).await?;
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

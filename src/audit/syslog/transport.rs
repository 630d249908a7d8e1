//! Where syslog messages go and how: `udp://HOST:PORT` (or bare `HOST:PORT`), one message per
//! datagram (RFC 5426), or `tcp://HOST:PORT` with octet-counting framing, `MSG-LEN SP MSG`
//! (RFC 6587 §3.4.1), which no byte of a message can break; or `tls://HOST:PORT`, the same
//! framing inside TLS (RFC 5425 §4.3).
//!
//! Guarantees: the address is one [`Destination::parse`] took (a scheme, a host and a port
//! only, so it can be logged); every network step has a timeout,
//! and after a failure the link rests for a few seconds instead of retrying per message.
//! Over `tls://` nothing is sent before the server showed a certificate for the host name (or
//! IP address) in the address, chaining to Mozilla's roots or to a CA in `audit.syslog_ca_file`
//! (rustls on ring, TLS 1.2 or 1.3; RFC 5425 §5.2's certificate path and name checks).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

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
    #[error("has a CA file that cannot be used (audit.syslog_ca_file = {path}): {cause}")]
    CaFile { path: String, cause: String },
    #[error("TLS with the syslog destination cannot be set up: {0}")]
    TlsSetup(String),
}

/// The TLS client settings for `destination`: Mozilla's roots, plus every certificate in its
/// CA file. Read when the broker starts (so a missing or empty file stops it) and at each
/// connect (so a renewed CA file is picked up).
pub fn tls_config(destination: &Destination) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = destination.ca_file() {
        let bad = |cause: String| Error::CaFile {
            path: path.display().to_string(),
            cause,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("it holds no PEM certificate".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::TlsSetup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
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
    Tls(Box<TlsStream<TcpStream>>),
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
                stream.write_all(&octet_counted(message)).await?;
            }
            Some(Open::Tls(stream)) => {
                stream.write_all(&octet_counted(message)).await?;
                stream.flush().await?;
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
            Transport::Tls => {
                let config = tls_config(&self.destination)?;
                let name = ServerName::try_from(self.destination.host().to_owned())
                    .map_err(|e| Error::TlsSetup(e.to_string()))?;
                let stream = TcpStream::connect(to).await?;
                stream.set_nodelay(true)?;
                let tls = TlsConnector::from(config).connect(name, stream).await?;
                Open::Tls(Box::new(tls))
            }
        })
    }
}

/// `MSG-LEN SP MSG` (RFC 6587 §3.4.1, RFC 5425 §4.3).
fn octet_counted(message: &[u8]) -> Vec<u8> {
    let mut framed = format!("{} ", message.len()).into_bytes();
    framed.extend_from_slice(message);
    framed
}

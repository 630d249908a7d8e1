//! A loopback TCP proxy in front of a real service (PostgreSQL, MariaDB, an SMTP server) that a
//! test switches between four states, to break the link the way networks and servers break:
//!
//! - [`Mode::Pass`]: bytes are copied both ways as they come;
//! - [`Mode::Down`]: every open connection is closed and the port refuses new ones (the
//!   listener itself is closed), as a stopped server does;
//! - [`Mode::Blackhole`]: connections are accepted and kept open but nothing is forwarded
//!   either way, as with a hung server or a dropped route; when the mode changes again what
//!   was held goes on (or is cut by `Down`);
//! - [`Mode::Slow`]: each chunk waits this long before it is forwarded, in both directions.
//!
//! The proxy only copies bytes; it never reads or changes them. Dropping it closes everything.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Down,
    Blackhole,
    Slow(Duration),
}

pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream`, in `Pass` mode.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, rx) = watch::channel(Mode::Pass);
        let task = tokio::spawn(accept_loop(listener, addr, upstream, rx));
        FaultProxy { addr, mode, task }
    }

    /// The address to give the broker instead of the service's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Connections end too: their mode channel closes with the sender.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut rx: watch::Receiver<Mode>,
) {
    let mut listener = Some(listener);
    loop {
        let Some(open) = &listener else {
            // Down: nothing listens, so a connection attempt is refused. Wait for another mode.
            if rx.changed().await.is_err() {
                return;
            }
            if *rx.borrow_and_update() != Mode::Down {
                listener = Some(rebind(addr));
            }
            continue;
        };
        tokio::select! {
            accepted = open.accept() => {
                if let Ok((client, _)) = accepted {
                    tokio::spawn(connection(client, upstream, rx.clone()));
                }
            }
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                if *rx.borrow_and_update() == Mode::Down {
                    listener = None;
                }
            }
        }
    }
}

/// Listens on `addr` again after `Down` (address reuse, so the closed port is free at once).
fn rebind(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket
        .bind(addr)
        .unwrap_or_else(|e| panic!("the fault proxy cannot listen on {addr} again: {e}"));
    socket.listen(128).unwrap()
}

async fn connection(client: TcpStream, upstream: SocketAddr, rx: watch::Receiver<Mode>) {
    if *rx.borrow() == Mode::Down {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (from_client, to_client) = client.into_split();
    let (from_server, to_server) = server.into_split();
    tokio::join!(
        pump(from_client, to_server, rx.clone()),
        pump(from_server, to_client, rx),
    );
}

/// Copies one direction chunk by chunk as the mode says; ends at EOF (passing it on) or `Down`.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut rx: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown().await;
                    return;
                }
                Ok(n) => n,
            },
            () = until_down(&mut rx) => return,
        };
        if !hold(&mut rx).await {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Waits as long as the mode says before a chunk goes on; false when the link is cut.
async fn hold(rx: &mut watch::Receiver<Mode>) -> bool {
    loop {
        let mode = *rx.borrow_and_update();
        match mode {
            Mode::Pass => return true,
            Mode::Down => return false,
            Mode::Blackhole => {
                if rx.changed().await.is_err() {
                    return false;
                }
            }
            Mode::Slow(latency) => {
                tokio::select! {
                    () = tokio::time::sleep(latency) => return true,
                    changed = rx.changed() => if changed.is_err() { return false },
                }
            }
        }
    }
}

async fn until_down(rx: &mut watch::Receiver<Mode>) {
    loop {
        if *rx.borrow_and_update() == Mode::Down {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

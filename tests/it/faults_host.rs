//! Host faults (issue 9, G4): the disk under the data dir fills up, the key file is missing,
//! damaged or not this store's, and the clock jumps forward or back. In every case the broker
//! fails closed: nothing is released (503 with a stable code, or an extract that ends
//! `failed` with its reason; no download counted, not one member byte sent), nothing already
//! stored is lost (the audit chain verifies, live extracts keep their chunks and keys), and
//! service comes back by itself, without a restart, once the fault is gone. A broker never
//! starts serving without keys that open its store.
//!
//! - `disk_full`: the data dir on a small tmpfs, filled while the broker runs (needs root).
//! - `key_file`: `registervakt serve` on every kind of bad key file; the file removed while
//!   the broker runs (it keeps its keys in memory and never re-reads the file).
//! - `clock_jump`: the real binary under libfaketime, its clock moved while it runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "faults_host/broker.rs"]
mod broker;
#[path = "faults_host/clock_jump.rs"]
mod clock_jump;
#[path = "faults_host/disk_full.rs"]
mod disk_full;
#[path = "faults_host/key_file.rs"]
mod key_file;

//! Registervakt — the only door through which staff get member data out of a party's
//! membership register. See `ARCHITECTURE.md` for the map of modules.
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`cli::run`]; everything
//! else lives in this library so tests can start a real server on port 0.

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod context;
pub mod crypto;
pub mod extract;
pub mod notify;
pub mod nouns;
pub mod oversight;
pub mod policy;
pub mod register;
pub mod store;
pub mod synthetic;
pub mod text;
pub mod web;

//! The integration suite, one binary: every module below is what was a test binary of its
//! own, sharing `common` (a real broker on port 0, its store, sign-in, the leak scan, the
//! OpenAPI status check) and the support for the real services (`smtp_support`: aiosmtpd;
//! `oidc_support`: oidc-provider).
//!
//! `cargo test` runs what needs only the Rust toolchain; the tests that need more are
//! `#[ignore = "needs …"]`, and `.ci/run` runs them with `cargo test -- --ignored` once the
//! services are there. One module: `cargo test --test it MODULE::`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod oidc_support;
mod smtp_support;

mod audit_checkpoints;
mod audit_disclosures;
mod audit_export;
mod audit_pages;
mod audit_recipe;
mod audit_syslog;
mod audit_syslog_tls;
mod audit_timeline;
mod audit_trace;
mod auth;
mod browser;
mod browser_passkeys;
mod calls;
mod cli;
mod cli_operator;
mod config_example;
mod crash;
mod demo_path;
mod do_not_call;
mod extract_files;
mod extract_followup;
mod extract_mail;
mod extract_pages;
mod extract_safety;
mod extracts;
mod extracts_postgres;
mod faults;
mod faults_host;
mod followup;
mod followup_sample;
mod forgery;
mod handover;
mod layering;
mod leak_scan;
mod mail;
mod mail_headers;
mod metrics;
mod oidc;
mod oidc_signin;
mod oversight_pages;
mod packaging;
mod passkeys;
mod policy_history;
mod policy_http;
mod proxy;
mod purpose_form;
mod recertify;
mod register_outage;
mod reports;
mod roles;
mod routes_audited;
mod server;
mod service;
mod sessions;
mod store;
mod two_instances;

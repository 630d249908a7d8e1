//! The HTML pages, one module per area, in Swedish first (`web::i18n`) and inside one frame
//! (`web::frame`). A page calls the same domain functions as the API and checks the CSRF token
//! and step-up on every form; its errors are pages, never JSON.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod calls;
pub mod extract;
pub mod freeze;
pub mod handover;
pub mod oidc;
pub mod oversight;
pub mod passkeys;
pub mod start;

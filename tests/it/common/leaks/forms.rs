//! The forms a registered value is looked for in, and how each kind of secret is registered:
//! a text secret as is, URL-encoded and its bytes in hex and base64; a binary one also raw; a
//! TOTP seed also in lower case; a recovery code also without dashes; a canary member by the
//! values only it has.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use registervakt::synthetic;

use super::{Kind, Leaks, MIN_LEN};

/// The text form a value was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    AsIs,
    LowerCase,
    WithoutDashes,
    UrlEncoded,
    Raw,
    Hex,
    HexUpper,
    Base64,
    Base64Url,
}

impl Form {
    pub(super) fn label(self) -> &'static str {
        match self {
            Form::AsIs => "as is",
            Form::LowerCase => "in lower case",
            Form::WithoutDashes => "without dashes",
            Form::UrlEncoded => "URL-encoded",
            Form::Raw => "raw bytes",
            Form::Hex => "hex",
            Form::HexUpper => "upper-case hex",
            Form::Base64 => "base64",
            Form::Base64Url => "base64url",
        }
    }
}

impl Leaks {
    /// A text secret (a password, a token, a code) as is, URL-encoded, and its bytes in hex
    /// and base64.
    pub fn text(&self, kind: Kind, value: &str) {
        if value.len() < MIN_LEN {
            return;
        }
        self.add(kind, Form::AsIs, value.as_bytes().to_vec());
        let encoded = url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
        self.add(kind, Form::UrlEncoded, encoded.into_bytes());
        self.encodings(kind, value.as_bytes());
    }

    /// A binary secret (a key, a seed): raw, and in hex and base64.
    pub fn bytes(&self, kind: Kind, value: &[u8]) {
        if value.len() < MIN_LEN {
            return;
        }
        self.add(kind, Form::Raw, value.to_vec());
        self.encodings(kind, value);
    }

    /// Hex and base64 forms. Base64 without padding: the padded form contains it.
    fn encodings(&self, kind: Kind, value: &[u8]) {
        self.add(kind, Form::Hex, hex::encode(value).into_bytes());
        self.add(kind, Form::HexUpper, hex::encode_upper(value).into_bytes());
        self.add(
            kind,
            Form::Base64,
            STANDARD_NO_PAD.encode(value).into_bytes(),
        );
        self.add(
            kind,
            Form::Base64Url,
            URL_SAFE_NO_PAD.encode(value).into_bytes(),
        );
    }

    /// A random token as the broker makes them (base64url of 32 bytes): the text and the
    /// decoded bytes.
    pub fn token(&self, kind: Kind, value: &str) {
        self.text(kind, value);
        if let Ok(raw) = URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')) {
            self.bytes(kind, &raw);
        }
    }

    /// A TOTP seed in base32, as shown at enrolment: the text, in lower case, without its
    /// padding, and the seed's raw bytes. Text that is not a seed is left out (pages show
    /// other values in the same markup, a request's hash say).
    pub fn totp_seed(&self, base32: &str) {
        let Ok(seed) = registervakt::auth::totp::Seed::from_base32(base32) else {
            return;
        };
        let trimmed = base32.trim_end_matches('=');
        self.text(Kind::TotpSeed, trimmed);
        self.add(
            Kind::TotpSeed,
            Form::LowerCase,
            trimmed.to_ascii_lowercase().into_bytes(),
        );
        self.bytes(Kind::TotpSeed, seed.as_bytes());
    }

    /// A recovery code as shown (`XXXXX-XXXXX-…`), without dashes, and in lower case.
    pub fn recovery_code(&self, shown: &str) {
        self.text(Kind::RecoveryCode, shown);
        let bare: String = shown
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        self.add(
            Kind::RecoveryCode,
            Form::WithoutDashes,
            bare.clone().into_bytes(),
        );
        self.add(
            Kind::RecoveryCode,
            Form::LowerCase,
            shown.to_ascii_lowercase().into_bytes(),
        );
        self.add(
            Kind::RecoveryCode,
            Form::LowerCase,
            bare.to_ascii_lowercase().into_bytes(),
        );
    }

    /// Every key of a key file, raw and in the text forms (the file holds standard base64).
    pub fn key_file(&self, path: &Path) {
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines().filter(|l| l.starts_with("kek ")) {
            let key = line.rsplit(' ').next().unwrap_or_default();
            let raw = base64::engine::general_purpose::STANDARD
                .decode(key)
                .expect("a key file line ends in standard base64");
            self.bytes(Kind::KeyEncryptionKey, &raw);
        }
    }

    /// A canary member's distinctive values: its marker (inside its names, e-mail and street
    /// address), phone and personal number. Other members are left out: their names are
    /// common ones. A member is a canary when its id is at or above `CANARY_ID_BASE`.
    pub fn member(&self, m: &synthetic::SyntheticMember) {
        let Some(seed) = m.member_id.checked_sub(synthetic::CANARY_ID_BASE) else {
            return;
        };
        let marker = synthetic::canary_marker(seed);
        for value in [
            marker.clone(),
            marker.to_ascii_lowercase(),
            m.street_address.clone(),
            m.personal_number.clone(),
        ]
        .into_iter()
        .chain(m.phone.clone())
        {
            self.add(Kind::CanaryMember, Form::AsIs, value.into_bytes());
        }
    }
}

//! HMAC-SHA256 signatures of webhook bodies, both ways: checking an inbound delivery
//! (Tideway's scheme with a signed timestamp, or GitHub's `X-Hub-Signature-256`) and
//! signing an outbound notification with Tideway's scheme, so one Tideway can receive
//! another's. Pure: the clock is an argument.
//!
//! Tideway's scheme: `X-Timestamp` is the Unix time in seconds, `X-Signature` is
//! `sha256=` and the lower-case hex HMAC-SHA256 of `{timestamp}.{body}` under the
//! endpoint's secret; `X-Delivery-Id`, if sent, names the delivery.

use aws_lc_rs::hmac;
use http::HeaderMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

pub const SIGNATURE: &str = "x-signature";
pub const TIMESTAMP: &str = "x-timestamp";
pub const DELIVERY_ID: &str = "x-delivery-id";
const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
const GITHUB_DELIVERY: &str = "x-github-delivery";

/// How an endpoint's deliveries are signed.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Signing {
    /// `X-Signature: sha256=…` over `{X-Timestamp}.{body}`, the timestamp within the
    /// server's replay window.
    #[default]
    Tideway,
    /// GitHub's `X-Hub-Signature-256: sha256=…` over the body. GitHub signs no time,
    /// so replays are refused by their delivery id and signature only.
    Github,
    /// Not signed: anyone who knows the URL can start the target. Only when the
    /// admin asks for it by name.
    None,
}

impl Signing {
    pub fn as_str(self) -> &'static str {
        match self {
            Signing::Tideway => "tideway",
            Signing::Github => "github",
            Signing::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "tideway" => Some(Signing::Tideway),
            "github" => Some(Signing::Github),
            "none" => Some(Signing::None),
            _ => None,
        }
    }
}

/// A delivery that passed the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// What identifies this delivery among retries: the sender's delivery id when
    /// it sends one, otherwise the signature.
    pub delivery: Option<String>,
    /// The signature (hex), which a replay with a changed delivery id still carries.
    pub fingerprint: Option<String>,
}

/// Why a delivery was refused. A sender learns only that the request was not
/// accepted, unless its signature was right (then the stale time is its to fix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Missing, malformed or wrong: answered exactly like an unknown path.
    NotSigned,
    /// Signed correctly, but its timestamp is this many seconds away from now.
    Stale { skew_secs: i64 },
}

/// Checks `body` as delivered with `headers` against `secret`, at `now_secs`.
pub fn verify(
    signing: Signing,
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
    window_secs: i64,
) -> Result<Verified, Rejected> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let delivery = |name: &str| {
        header(name)
            .map(str::trim)
            .filter(|id| {
                !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_graphic())
            })
            .map(str::to_string)
    };
    match signing {
        Signing::None => Ok(Verified {
            delivery: delivery(DELIVERY_ID).or_else(|| delivery(GITHUB_DELIVERY)),
            fingerprint: None,
        }),
        Signing::Github => {
            let given = header(GITHUB_SIGNATURE).ok_or(Rejected::NotSigned)?;
            let expected = sign_hex(secret, &[body]);
            check(given, &expected)?;
            Ok(Verified {
                delivery: delivery(GITHUB_DELIVERY),
                fingerprint: Some(expected),
            })
        }
        Signing::Tideway => {
            let given = header(SIGNATURE).ok_or(Rejected::NotSigned)?;
            let stamp = header(TIMESTAMP).ok_or(Rejected::NotSigned)?.trim();
            let seconds: i64 = stamp.parse().map_err(|_| Rejected::NotSigned)?;
            let expected = sign_hex(secret, &[stamp.as_bytes(), b".", body]);
            check(given, &expected)?;
            // Only a correctly signed request learns that its time is off.
            let skew = now_secs.saturating_sub(seconds);
            if skew.abs() > window_secs {
                return Err(Rejected::Stale { skew_secs: skew });
            }
            Ok(Verified {
                delivery: delivery(DELIVERY_ID),
                fingerprint: Some(expected),
            })
        }
    }
}

/// `sha256=<hex>` (or the bare hex) against the expected hex, in constant time.
fn check(given: &str, expected: &str) -> Result<(), Rejected> {
    let given = given.trim();
    let given = given.strip_prefix("sha256=").unwrap_or(given);
    let given = given.to_ascii_lowercase();
    if given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Rejected::NotSigned)
    }
}

/// The lower-case hex HMAC-SHA256 of the parts, in order, under `secret`.
pub fn sign_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    for part in parts {
        context.update(part);
    }
    hex(context.sign().as_ref())
}

/// The headers that sign an outbound `body` at `now_secs` with Tideway's scheme.
pub fn outbound_headers(secret: &[u8], body: &[u8], now_secs: i64) -> [(&'static str, String); 2] {
    let stamp = now_secs.to_string();
    let signature = sign_hex(secret, &[stamp.as_bytes(), b".", body]);
    [
        (TIMESTAMP, stamp),
        (SIGNATURE, format!("sha256={signature}")),
    ]
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// A new signing secret: 32 random bytes, as `whsec_` and URL-safe base64.
pub fn new_secret() -> Result<String, String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "no randomness available".to_string())?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

//! Both signing schemes: a right signature passes, a wrong, missing or malformed one
//! is refused without saying which, a stale timestamp is refused only when the
//! signature was right, and what Tideway signs outbound verifies inbound.

use http::{HeaderMap, HeaderValue};

use crate::toolkits::automation::signature::{
    Rejected, Signing, Verified, outbound_headers, sign_hex, verify,
};

const SECRET: &[u8] = b"whsec_test";
const BODY: &[u8] = br#"{"ticket": 42}"#;
const NOW: i64 = 1_800_000_000;

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).expect("a header value"));
    }
    map
}

fn tideway(stamp: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    outbound_headers(SECRET, body, stamp).into_iter().collect()
}

#[test]
fn tideways_scheme_accepts_its_own_signature_and_names_the_delivery() {
    let mut pairs = tideway(NOW - 10, BODY);
    pairs.push(("x-delivery-id", "d-1".into()));
    let verified =
        verify(Signing::Tideway, SECRET, &headers(&pairs), BODY, NOW, 300).expect("valid");
    assert_eq!(verified.delivery.as_deref(), Some("d-1"));
    let expected = sign_hex(SECRET, &[(NOW - 10).to_string().as_bytes(), b".", BODY]);
    assert_eq!(verified.fingerprint.as_deref(), Some(expected.as_str()));
}

#[test]
fn a_wrong_or_missing_signature_is_refused_alike() {
    let valid = tideway(NOW, BODY);
    let cases: Vec<(&str, HeaderMap, &[u8], &[u8])> = vec![
        (
            "another body",
            headers(&valid),
            br#"{"ticket": 43}"#,
            SECRET,
        ),
        ("another secret", headers(&valid), BODY, b"whsec_other"),
        ("no signature", headers(&valid[..1]), BODY, SECRET),
        ("no timestamp", headers(&valid[1..]), BODY, SECRET),
        (
            "a timestamp that is not a number",
            headers(&[("x-timestamp", "soon".into()), valid[1].clone()]),
            BODY,
            SECRET,
        ),
        (
            "a changed timestamp",
            headers(&[("x-timestamp", (NOW + 1).to_string()), valid[1].clone()]),
            BODY,
            SECRET,
        ),
        (
            "a signature of the wrong length",
            headers(&[valid[0].clone(), ("x-signature", "sha256=abc".into())]),
            BODY,
            SECRET,
        ),
    ];
    for (case, headers, body, secret) in cases {
        assert_eq!(
            verify(Signing::Tideway, secret, &headers, body, NOW, 300),
            Err(Rejected::NotSigned),
            "{case}"
        );
    }
}

#[test]
fn a_right_signature_outside_the_window_is_stale() {
    for skew in [-301, 301, 86_400] {
        let pairs = tideway(NOW - skew, BODY);
        assert_eq!(
            verify(Signing::Tideway, SECRET, &headers(&pairs), BODY, NOW, 300),
            Err(Rejected::Stale { skew_secs: skew }),
            "skew {skew}"
        );
    }
    let pairs = tideway(NOW - 300, BODY);
    assert!(verify(Signing::Tideway, SECRET, &headers(&pairs), BODY, NOW, 300).is_ok());
}

#[test]
fn githubs_scheme_signs_the_body_alone() {
    let signature = format!("sha256={}", sign_hex(SECRET, &[BODY]));
    let given = headers(&[
        ("x-hub-signature-256", signature.clone()),
        (
            "x-github-delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
        ),
    ]);
    let verified = verify(Signing::Github, SECRET, &given, BODY, NOW, 300).expect("valid");
    assert_eq!(
        verified.delivery.as_deref(),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    let upper = headers(&[(
        "x-hub-signature-256",
        signature.to_uppercase().replace("SHA256=", "sha256="),
    )]);
    assert!(
        verify(Signing::Github, SECRET, &upper, BODY, NOW, 300).is_ok(),
        "hex in capitals"
    );
    assert_eq!(
        verify(Signing::Github, SECRET, &given, b"{}", NOW, 300),
        Err(Rejected::NotSigned)
    );
    // Tideway's headers do not satisfy GitHub's scheme, nor the other way round.
    assert_eq!(
        verify(
            Signing::Github,
            SECRET,
            &headers(&tideway(NOW, BODY)),
            BODY,
            NOW,
            300
        ),
        Err(Rejected::NotSigned)
    );
    assert_eq!(
        verify(Signing::Tideway, SECRET, &given, BODY, NOW, 300),
        Err(Rejected::NotSigned)
    );
}

#[test]
fn unsigned_endpoints_take_the_senders_delivery_id_only() {
    let verified = verify(
        Signing::None,
        b"",
        &headers(&[("x-delivery-id", "  ".into())]),
        BODY,
        NOW,
        300,
    )
    .expect("unsigned");
    assert_eq!(
        verified,
        Verified {
            delivery: None,
            fingerprint: None
        }
    );
}

//! Why a request to a cloud service failed, in the words `test_account` and every tool
//! use: the network's answer (dns, refused, tls, timeout), the egress policy's, or the
//! service's own error code read from its JSON or XML error body, each with a hint
//! saying what to change.

use std::error::Error;

use tideway_core::{HubError, error::bounded};

use crate::egress::refusal_in;

/// One failure, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `dns`, `refused`, `tls`, `timeout`, `policy`, `auth`, `clock_skew`,
    /// `permission`, `not_found`, `conflict`, `throttled`, `invalid` or `service`.
    pub kind: &'static str,
    /// What was said, bounded.
    pub detail: String,
    pub hint: &'static str,
}

const MAX_DETAIL: usize = 300;

/// A failure to reach the service at all.
pub fn of_transport(error: &(dyn Error + 'static)) -> Failure {
    if let Some(refusal) = refusal_in(error) {
        return Failure {
            kind: if refusal.is_policy() { "policy" } else { "dns" },
            detail: refusal.to_string(),
            hint: if refusal.is_policy() {
                "a tenant's account reaches the internet only; the operator can open an internal endpoint with [cloud] allow"
            } else {
                "check the endpoint's host name"
            },
        };
    }
    let mut chain = String::new();
    let mut current = Some(error);
    let mut refused = false;
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        chain.push_str(&error.to_string());
        chain.push_str(": ");
        current = error.source();
    }
    let lower = chain.to_ascii_lowercase();
    let (kind, hint) = if refused || lower.contains("connection refused") {
        (
            "refused",
            "nothing listens at the endpoint's host and port; check the endpoint",
        )
    } else if lower.contains("dns error") || lower.contains("failed to lookup") {
        ("dns", "the endpoint's host name does not resolve; check it")
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("ssl") {
        (
            "tls",
            "the TLS handshake failed; check the endpoint's scheme and certificate",
        )
    } else if lower.contains("timed out") || lower.contains("timeout") {
        (
            "timeout",
            "the service did not answer in time ([cloud] timeout_secs); check the endpoint and the network",
        )
    } else {
        ("service", "see the detail")
    };
    Failure {
        kind,
        detail: bounded(chain.trim_end_matches(": "), MAX_DETAIL).into_owned(),
        hint,
    }
}

/// A service's error answer: its code (`NoSuchBucket`, `ParameterNotFound`,
/// `SignatureDoesNotMatch`, ...) and message.
pub fn of_service(status: u16, code: &str, message: &str) -> Failure {
    let detail = if message.is_empty() {
        code.to_string()
    } else {
        format!("{code}: {message}")
    };
    let detail = bounded(&detail, MAX_DETAIL).into_owned();
    // Azure says AuthorizationFailure both for a bad signature (its emulator) and for
    // a request its network rules refuse; the message tells them apart.
    let code = if code == "AuthorizationFailure" && message.contains("authenticate") {
        "AuthenticationFailed"
    } else {
        code
    };
    let (kind, hint) = match code {
        "AuthenticationFailed" => (
            "auth",
            "the service refused the credentials; check the storage account's name and key",
        ),
        "SignatureDoesNotMatch"
        | "InvalidAccessKeyId"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "ExpiredToken"
        | "InvalidSignatureException" => (
            "auth",
            "the service refused the credentials; check the access key id and secret access key",
        ),
        "RequestTimeTooSkewed" | "RequestExpired" => (
            "clock_skew",
            "the server's clock differs from the service's by more than 15 minutes; fix the clock (NTP)",
        ),
        "AccessDenied"
        | "AccessDeniedException"
        | "AllAccessDisabled"
        | "Forbidden"
        | "AuthorizationFailure"
        | "AuthorizationPermissionMismatch" => (
            "permission",
            "the credentials are valid but lack permission for this action; extend the key's policy",
        ),
        "NoSuchBucket"
        | "NoSuchKey"
        | "NotFound"
        | "ResourceNotFoundException"
        | "ParameterNotFound"
        | "ParameterVersionNotFound"
        | "ContainerNotFound"
        | "BlobNotFound" => ("not_found", "check the name"),
        "ParameterAlreadyExists"
        | "BucketAlreadyExists"
        | "ResourceConflictException"
        | "ContainerAlreadyExists" => ("conflict", "it exists already"),
        "Throttling"
        | "ThrottlingException"
        | "SlowDown"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ServerBusy" => ("throttled", "the service is rate limiting; retry later"),
        "ValidationException"
        | "InvalidParameterValueException"
        | "InvalidRequest"
        | "InvalidArgument"
        | "InvalidBucketName"
        | "KeyTooLongError"
        | "RequestTooLargeException"
        | "ParameterLimitExceeded"
        | "InvalidResourceName" => ("invalid", "the service refused the request as invalid"),
        _ if status == 403 => (
            "permission",
            "the service refused the request; check the credentials and their permissions",
        ),
        _ if status == 404 => ("not_found", "check the name"),
        _ => ("service", "the service answered with an error"),
    };
    Failure { kind, detail, hint }
}

/// The service's code and message in an error body: JSON (`__type` or `code`, then
/// `message`), S3's XML (`<Code>`, `<Message>`), or Lambda's error type header.
pub fn read_error_body(error_type: Option<&str>, body: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(body);
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let code = error_type
            .map(str::to_string)
            .or_else(|| {
                ["__type", "code", "Code", "Type"]
                    .iter()
                    .find_map(|key| json[*key].as_str().map(str::to_string))
            })
            .unwrap_or_default();
        // `__type` may be namespaced: `com.amazonaws.ssm#ParameterNotFound`.
        let code = code.rsplit('#').next().unwrap_or_default().to_string();
        let message = ["message", "Message", "errorMessage"]
            .iter()
            .find_map(|key| json[*key].as_str())
            .unwrap_or_default()
            .to_string();
        return (code, message);
    }
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        text.find(&open).and_then(|start| {
            let rest = &text[start + open.len()..];
            rest.find(&close).map(|end| rest[..end].to_string())
        })
    };
    let code = error_type
        .map(str::to_string)
        .or_else(|| tag("Code"))
        .unwrap_or_default();
    (
        code.split(':').next().unwrap_or_default().to_string(),
        tag("Message").unwrap_or_default(),
    )
}

impl Failure {
    /// The failure as a tool's error, for account `account`.
    pub fn into_hub(self, account: &str) -> HubError {
        let shown = format!("{} ({})", self.detail, self.hint);
        match self.kind {
            "not_found" => HubError::NotFound(self.detail),
            "conflict" => HubError::Conflict(self.detail),
            "permission" => HubError::Forbidden(shown),
            "throttled" => HubError::RateLimited {
                message: shown,
                retry_after: std::time::Duration::from_secs(1),
            },
            "invalid" => HubError::invalid_argument("arguments", shown),
            _ => HubError::Unavailable {
                component: format!("cloud account '{account}'"),
                reason: format!("{}: {shown}", self.kind),
            },
        }
    }
}

/// An object store library error, classified.
pub fn of_object_store(error: &object_store::Error) -> Failure {
    use object_store::Error as E;
    match error {
        E::NotFound { .. } => Failure {
            kind: "not_found",
            detail: "no such object".into(),
            hint: "check the bucket and key",
        },
        E::AlreadyExists { .. } | E::Precondition { .. } => Failure {
            kind: "conflict",
            detail: "the object exists already or changed meanwhile".into(),
            hint: "read it again",
        },
        E::PermissionDenied { .. } => of_service(403, "AccessDenied", ""),
        E::Unauthenticated { .. } => of_service(401, "InvalidAccessKeyId", ""),
        E::InvalidPath { source } => Failure {
            kind: "invalid",
            detail: bounded(&source.to_string(), MAX_DETAIL).into_owned(),
            hint: "keys are '/'-separated names without empty, '.' or '..' parts",
        },
        other => {
            // The library keeps the service's answer as text in its error chain.
            let mut text = String::new();
            let mut current: Option<&(dyn Error + 'static)> = Some(other);
            while let Some(error) = current {
                text.push_str(&error.to_string());
                text.push(' ');
                current = error.source();
            }
            for code in [
                "NoSuchBucket",
                "SignatureDoesNotMatch",
                "InvalidAccessKeyId",
                "RequestTimeTooSkewed",
                "AccessDenied",
                "SlowDown",
            ] {
                if text.contains(code) {
                    return of_service(0, code, "");
                }
            }
            let transport = of_transport(other);
            if transport.kind != "service" {
                return transport;
            }
            Failure {
                kind: "service",
                detail: bounded(text.trim_end(), MAX_DETAIL).into_owned(),
                hint: "the storage service answered with an error",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_each_protocol_give_their_code_and_message() {
        assert_eq!(
            read_error_body(
                None,
                br#"{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"gone"}"#
            ),
            ("ParameterNotFound".into(), "gone".into())
        );
        assert_eq!(
            read_error_body(
                Some("ResourceNotFoundException:http://internal"),
                br#"{"Type":"User","Message":"Function not found"}"#
            )
            .1,
            "Function not found"
        );
        assert_eq!(
            read_error_body(
                None,
                b"<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message></Error>"
            ),
            ("SignatureDoesNotMatch".into(), "bad sig".into())
        );
        assert_eq!(read_error_body(None, b""), (String::new(), String::new()));
    }

    #[test]
    fn codes_map_to_kinds_with_hints() {
        assert_eq!(of_service(403, "SignatureDoesNotMatch", "x").kind, "auth");
        assert_eq!(
            of_service(403, "RequestTimeTooSkewed", "x").kind,
            "clock_skew"
        );
        assert_eq!(of_service(403, "AccessDenied", "x").kind, "permission");
        assert_eq!(of_service(404, "Whatever", "x").kind, "not_found");
        assert_eq!(of_service(400, "ParameterNotFound", "x").kind, "not_found");
        assert_eq!(of_service(500, "InternalError", "x").kind, "service");
        // Azure: a bad key, and a request its network rules refuse.
        assert_eq!(of_service(403, "AuthenticationFailed", "x").kind, "auth");
        assert_eq!(
            of_service(
                403,
                "AuthorizationFailure",
                "Server failed to authenticate the request."
            )
            .kind,
            "auth"
        );
        assert_eq!(
            of_service(
                403,
                "AuthorizationFailure",
                "This request is not authorized to perform this operation."
            )
            .kind,
            "permission"
        );
        assert_eq!(of_service(404, "ContainerNotFound", "x").kind, "not_found");
        assert!(matches!(
            of_service(400, "ParameterNotFound", "x").into_hub("main"),
            HubError::NotFound(_)
        ));
        assert!(matches!(
            of_service(403, "SignatureDoesNotMatch", "x").into_hub("main"),
            HubError::Unavailable { .. }
        ));
    }
}

//! Names that every major MCP client accepts: letters, digits, `_` and `-`, at most
//! 64 characters. On `/mcp` a tool is named `{toolkit}_{tool}` by default; a federated
//! upstream may ask for its bare names instead ([`NamingMode`]). A name that would be
//! too long is cut and given a short hash of the full name, so it stays unique and is
//! the same on every start.

use serde::{Deserialize, Serialize};

pub const MAX_NAME_LEN: usize = 64;

/// How a toolkit's tools are named on the endpoint that serves every toolkit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NamingMode {
    /// Always `{toolkit}_{tool}`.
    #[default]
    Prefix,
    /// The bare name while no other toolkit uses it, `{toolkit}_{tool}` otherwise.
    OnCollision,
    /// Always the bare name; a tool whose name is taken is left off `/mcp` (it stays
    /// on `/mcp/{toolkit}`) and reported as a collision.
    Never,
}

impl NamingMode {
    /// The names `tool` may take on `/mcp`, in order of preference.
    pub fn candidates(self, toolkit: &str, tool: &str) -> Vec<String> {
        let bare = shorten(&sanitize(tool));
        match self {
            NamingMode::Prefix => vec![qualified_tool_name(toolkit, tool)],
            NamingMode::OnCollision => vec![bare, qualified_tool_name(toolkit, tool)],
            NamingMode::Never => vec![bare],
        }
    }
}

/// Whether `name` is acceptable to every major client as it is.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `name` can name something a tenant stores and refers to in arguments and
/// URIs (a source, a prompt, a connection, a provider, an upstream): at most `max_len`
/// lower-case letters, digits, `_` or `-`, starting with a letter or digit. One rule
/// everywhere, so a name that works in one toolkit works in the next.
pub fn is_valid_id(name: &str, max_len: usize) -> bool {
    name.len() <= max_len
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Replaces every character a client would refuse with `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The name of `tool` of `toolkit` on the endpoint that serves every toolkit.
pub fn qualified_tool_name(toolkit: &str, tool: &str) -> String {
    shorten(&sanitize(&format!("{toolkit}_{tool}")))
}

/// Cuts a name to [`MAX_NAME_LEN`], keeping it unique with an 8-hex-digit FNV-1a hash
/// of the whole name.
pub fn shorten(name: &str) -> String {
    if name.len() <= MAX_NAME_LEN {
        return name.to_string();
    }
    let hash = fnv1a(name.as_bytes());
    let keep = MAX_NAME_LEN - 9;
    format!("{}_{hash:08x}", &name[..keep])
}

/// The 32-bit FNV-1a hash of `bytes`: short, stable across starts, and enough to tell
/// apart names that read alike.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lower_case_and_start_with_a_letter_or_digit() {
        for good in ["crm", "sql-2", "9lives", "a_b"] {
            assert!(is_valid_id(good, 64), "{good}");
        }
        for bad in ["", "Crm", "-lead", "_x", "a b", "é", "a.b"] {
            assert!(!is_valid_id(bad, 64), "{bad}");
        }
        assert!(is_valid_id(&"a".repeat(32), 32));
        assert!(!is_valid_id(&"a".repeat(33), 32));
    }

    #[test]
    fn qualified_names_join_with_underscore() {
        assert_eq!(
            qualified_tool_name("support", "create_ticket"),
            "support_create_ticket"
        );
    }

    #[test]
    fn invalid_characters_are_replaced() {
        assert_eq!(
            qualified_tool_name("git.hub", "list repos"),
            "git_hub_list_repos"
        );
        assert!(is_valid_name(&qualified_tool_name("a/b", "c:d")));
    }

    #[test]
    fn long_names_are_shortened_deterministically_and_uniquely() {
        let a = qualified_tool_name("upstream", &"x".repeat(80));
        let b = qualified_tool_name("upstream", &format!("{}y", "x".repeat(79)));
        assert_eq!(a.len(), MAX_NAME_LEN);
        assert!(is_valid_name(&a));
        assert_ne!(a, b);
        assert_eq!(a, qualified_tool_name("upstream", &"x".repeat(80)));
    }

    #[test]
    fn naming_modes_offer_names_in_order() {
        assert_eq!(
            NamingMode::Prefix.candidates("fs", "read_file"),
            vec!["fs_read_file"]
        );
        assert_eq!(
            NamingMode::OnCollision.candidates("fs", "read file"),
            vec!["read_file", "fs_read_file"]
        );
        assert_eq!(
            NamingMode::Never.candidates("fs", "read_file"),
            vec!["read_file"]
        );
    }

    #[test]
    fn validity_rules() {
        assert!(is_valid_name("abc-DEF_123"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("has space"));
        assert!(!is_valid_name(&"a".repeat(65)));
    }
}

//! Who may call what. A principal's role sets the kind of tool it may call (viewers
//! read, operators also write, admins also manage), and allow/deny lists from its
//! tenant and its credential narrow the catalog further. The Hub applies both on the
//! one call path and when it lists the catalog, so every face shows a caller only
//! what it may call.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// What a principal may do. Ordered: each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Calls read-only tools, reads resources and prompts.
    Viewer,
    /// Also calls tools that write.
    Operator,
    /// Also manages sources, keys, upstreams and tenants, and reads the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role '{other}': use viewer, operator or admin"
            )),
        }
    }
}

/// Allow and deny lists over tool names. A pattern is `toolkit` (every tool of it),
/// `toolkit.tool`, either part ending in `*` as a prefix wildcard, or `*`. An empty
/// allow list allows everything; deny wins over allow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolRules {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Splits a pattern into its toolkit part and its optional tool part.
fn parts(pattern: &str) -> (&str, Option<&str>) {
    match pattern.split_once('.') {
        Some((kit, tool)) => (kit, Some(tool)),
        None => (pattern, None),
    }
}

fn matches_tool(pattern: &str, toolkit: &str, tool: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (kit_pattern, tool_pattern) = parts(pattern);
    glob(kit_pattern, toolkit) && tool_pattern.is_none_or(|pattern| glob(pattern, tool))
}

impl ToolRules {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Refuses patterns that could never match, so a typo does not silently allow or
    /// deny nothing.
    pub fn validate(&self) -> Result<(), String> {
        for pattern in self.allow.iter().chain(&self.deny) {
            let (kit, tool) = parts(pattern);
            let valid_part = |part: &str| {
                let stem = part.strip_suffix('*').unwrap_or(part);
                (!stem.is_empty() || part.ends_with('*'))
                    && stem
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            };
            if !valid_part(kit) || !tool.is_none_or(valid_part) {
                return Err(format!(
                    "'{pattern}' is not a tool pattern: use toolkit, toolkit.tool, a trailing * or *"
                ));
            }
        }
        Ok(())
    }

    pub fn permits_tool(&self, toolkit: &str, tool: &str) -> bool {
        let allowed = self.allow.is_empty()
            || self
                .allow
                .iter()
                .any(|pattern| matches_tool(pattern, toolkit, tool));
        allowed
            && !self
                .deny
                .iter()
                .any(|pattern| matches_tool(pattern, toolkit, tool))
    }

    /// Whether anything of a toolkit (its resources and prompts) is visible: some
    /// allow pattern names the toolkit and no deny pattern covers all of it.
    pub fn permits_toolkit(&self, toolkit: &str) -> bool {
        let allowed = self.allow.is_empty()
            || self.allow.iter().any(|pattern| {
                let (kit, _) = parts(pattern);
                pattern == "*" || glob(kit, toolkit)
            });
        allowed
            && !self.deny.iter().any(|pattern| {
                let (kit, tool) = parts(pattern);
                pattern == "*" || (glob(kit, toolkit) && tool.is_none_or(|tool| tool == "*"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> ToolRules {
        ToolRules {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn empty_rules_allow_everything() {
        let rules = ToolRules::default();
        assert!(rules.permits_tool("support", "create_ticket"));
        assert!(rules.permits_toolkit("database"));
    }

    #[test]
    fn allow_lists_narrow_and_deny_wins() {
        let rules = rules(&["support", "system.echo"], &["support.delete_*"]);
        assert!(rules.permits_tool("support", "create_ticket"));
        assert!(!rules.permits_tool("support", "delete_customer"));
        assert!(rules.permits_tool("system", "echo"));
        assert!(!rules.permits_tool("system", "list_toolkits"));
        assert!(!rules.permits_tool("database", "query_database"));
        assert!(rules.permits_toolkit("support"));
        assert!(rules.permits_toolkit("system"));
        assert!(!rules.permits_toolkit("database"));
    }

    #[test]
    fn a_toolkit_wide_deny_hides_the_toolkit() {
        let rules = rules(&[], &["database"]);
        assert!(!rules.permits_toolkit("database"));
        assert!(!rules.permits_tool("database", "list_sources"));
        assert!(rules.permits_toolkit("support"));
        let star = rules_star();
        assert!(!star.permits_toolkit("support"));
    }

    fn rules_star() -> ToolRules {
        rules(&[], &["*"])
    }

    #[test]
    fn patterns_are_validated() {
        assert!(
            rules(&["support", "support.get_*", "*", "sup*"], &[])
                .validate()
                .is_ok()
        );
        assert!(rules(&["support tickets"], &[]).validate().is_err());
        assert!(rules(&[""], &[]).validate().is_err());
        assert!(rules(&[], &["support."]).validate().is_err());
    }

    #[test]
    fn roles_parse_and_order() {
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    }
}

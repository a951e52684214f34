//! The catalog: registered toolkits with what the Hub derived from each once
//! (validators, roles, names on `/mcp`), the virtual servers, and which toolkits a
//! scope serves. Pure code: a change makes the next catalog from the current one and
//! the Hub swaps it in, so every rule about names and collisions is tested here
//! without a running Hub.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use serde::Serialize;

use super::{Scope, VirtualServer};
use crate::{
    access::Role,
    context::{Principal, TenantId},
    error::HubError,
    mcp::{Prompt, ResourceTemplate, Tool},
    naming::{is_valid_name, qualified_tool_name},
    schema::ArgumentValidator,
    toolkit::Toolkit,
};

/// A registered toolkit with what the Hub derived from it once.
pub struct Entry {
    pub toolkit: Arc<dyn Toolkit>,
    pub tools: Vec<Tool>,
    pub(super) validators: HashMap<String, ArgumentValidator>,
    /// The least role that may call each tool.
    roles: HashMap<String, Role>,
    pub prompts: Vec<Prompt>,
    pub templates: Vec<ResourceTemplate>,
    pub(super) uri_prefixes: Vec<String>,
    /// Tool → its name on `/mcp`; a tool whose name there was taken is absent.
    pub(super) mcp_tool_names: HashMap<String, String>,
    pub(super) mcp_prompt_names: HashMap<String, String>,
    /// What was left off `/mcp` because its name there was taken.
    pub collisions: Vec<NameCollision>,
    /// The tenant that alone may see it, if any.
    pub owner: Option<TenantId>,
    /// The tools a lean `/mcp` lists; `None`: all of them.
    featured: Option<HashSet<String>>,
}

/// A tool or prompt left off `/mcp` because another already has its name there. It
/// is still served on `/mcp/{toolkit}`; nothing is shadowed silently.
#[derive(Clone, Debug, Serialize)]
pub struct NameCollision {
    /// `tool` or `prompt`.
    pub kind: &'static str,
    /// The tool or prompt as this toolkit names it.
    pub item: String,
    /// The name it would have had on `/mcp`.
    pub name: String,
    pub taken_by_toolkit: String,
    pub taken_by: String,
}

/// Takes the first free name among `candidates` for `target`, or says who holds the
/// last one.
fn place(
    names: &mut HashMap<String, (String, String)>,
    candidates: &[String],
    (toolkit, item): (&str, &str),
) -> Result<String, (String, (String, String))> {
    for candidate in candidates {
        if !names.contains_key(candidate) {
            names.insert(candidate.clone(), (toolkit.to_string(), item.to_string()));
            return Ok(candidate.clone());
        }
    }
    let taken = candidates.last().cloned().unwrap_or_default();
    let holder = names.get(&taken).cloned().unwrap_or_default();
    Err((taken, holder))
}

impl Entry {
    /// Checks a toolkit's names and compiles its schemas.
    pub(super) fn build(toolkit: Arc<dyn Toolkit>) -> Result<Entry, HubError> {
        let name = toolkit.name().to_string();
        if !is_valid_name(&name) {
            return Err(HubError::Internal(format!(
                "toolkit name '{name}' must be 1-64 letters, digits, '_' or '-'"
            )));
        }
        let tools = toolkit.tools();
        let mut validators = HashMap::new();
        for tool in &tools {
            if !is_valid_name(&tool.name) {
                return Err(HubError::Internal(format!(
                    "tool '{}' of toolkit '{name}' must be 1-64 letters, digits, '_' or '-'",
                    tool.name
                )));
            }
            validators.insert(
                tool.name.to_string(),
                ArgumentValidator::compile(&tool.name, &tool.input_schema)?,
            );
        }
        let roles = tools
            .iter()
            .map(|tool| (tool.name.to_string(), toolkit.required_role(tool)))
            .collect();
        let featured = toolkit.featured_tools().map(|names| {
            names
                .into_iter()
                .filter(|name| tools.iter().any(|tool| tool.name == name.as_str()))
                .collect()
        });
        Ok(Entry {
            featured,
            owner: toolkit.owner().cloned(),
            roles,
            prompts: toolkit.prompts(),
            templates: toolkit.resource_templates(),
            uri_prefixes: toolkit.uri_prefixes(),
            tools,
            validators,
            toolkit,
            mcp_tool_names: HashMap::new(),
            mcp_prompt_names: HashMap::new(),
            collisions: Vec::new(),
        })
    }

    pub fn name(&self) -> &str {
        self.toolkit.name()
    }

    /// The name of `tool` on `/mcp`, unless it was left off there.
    pub fn mcp_tool_name(&self, tool: &str) -> Option<&str> {
        self.mcp_tool_names.get(tool).map(String::as_str)
    }

    /// Whether a lean `/mcp` lists `tool`.
    pub fn is_featured(&self, tool: &str) -> bool {
        self.featured
            .as_ref()
            .is_none_or(|featured| featured.contains(tool))
    }

    /// The tool as its toolkit declared it, schemas included.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|tool| tool.name == name)
    }

    /// The least role that may call `tool` (admin for a tool the Hub does not know).
    pub fn required_role(&self, tool: &str) -> Role {
        self.roles.get(tool).copied().unwrap_or(Role::Admin)
    }

    /// Whether the toolkit exists for `principal` at all (it is shared, or owned by
    /// the principal's tenant).
    pub fn visible_to(&self, principal: &Principal) -> bool {
        principal.sees_owner(self.owner.as_ref())
    }

    /// Whether the toolkit's resources and prompts are shown to `principal`: it is
    /// visible to its tenant and the principal's rules permit something of it.
    pub fn shown_to(&self, principal: &Principal) -> bool {
        self.visible_to(principal) && principal.permits_toolkit(self.name())
    }

    /// Whether `principal` may call `tool` of this toolkit.
    pub fn may_call(&self, principal: &Principal, tool: &str) -> bool {
        self.visible_to(principal)
            && principal.role >= self.required_role(tool)
            && principal.permits_tool(self.name(), tool)
    }

    /// The tools `principal` may call.
    pub fn callable_tools<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> impl Iterator<Item = &'a Tool> + 'a {
        self.tools
            .iter()
            .filter(move |tool| self.may_call(principal, &tool.name))
    }
}

/// One version of the catalog. Never changed in place: a change makes the next
/// version, so readers holding a snapshot are never disturbed.
#[derive(Default)]
pub(super) struct Catalog {
    pub(super) entries: Vec<Arc<Entry>>,
    /// Qualified tool name on `/mcp` → (toolkit, tool).
    pub(super) qualified_tools: HashMap<String, (String, String)>,
    pub(super) qualified_prompts: HashMap<String, (String, String)>,
    pub(super) views: Arc<HashMap<String, VirtualServer>>,
}

/// What a change to the catalog must tell connected clients besides the tool list.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Changed {
    pub(super) prompts: bool,
    pub(super) resources: bool,
}

impl Catalog {
    pub(super) fn entry(&self, toolkit: &str) -> Option<&Arc<Entry>> {
        self.entries.iter().find(|entry| entry.name() == toolkit)
    }

    pub(super) fn in_scope<'a>(
        &'a self,
        scope: &'a Scope,
    ) -> impl Iterator<Item = &'a Arc<Entry>> + 'a {
        let view = match scope {
            Scope::View(name) => self.views.get(name),
            _ => None,
        };
        self.entries.iter().filter(move |entry| match scope {
            Scope::All => true,
            Scope::Toolkit(name) => entry.name() == name,
            Scope::View(_) => view.is_some_and(|view| view.tools.permits_toolkit(entry.name())),
        })
    }

    /// Whether `tool` of `toolkit` is served in `scope` at all (before access rules).
    pub(super) fn serves_tool(&self, scope: &Scope, toolkit: &str, tool: &str) -> bool {
        match scope {
            Scope::All => true,
            Scope::Toolkit(name) => name == toolkit,
            Scope::View(name) => self
                .views
                .get(name)
                .is_some_and(|view| view.tools.permits_tool(toolkit, tool)),
        }
    }

    /// The toolkits in scope whose resources and prompts `principal` may see.
    pub(super) fn visible<'a>(
        &'a self,
        scope: &'a Scope,
        principal: &'a Principal,
    ) -> impl Iterator<Item = &'a Arc<Entry>> + 'a {
        self.in_scope(scope)
            .filter(move |entry| entry.shown_to(principal))
    }

    /// The next catalog with `entry` added (or, with `replace`, swapped in for the
    /// toolkit of its name, in its place), its tools and prompts given names on
    /// `/mcp`. A name another toolkit holds is left off `/mcp` and recorded in the
    /// entry's `collisions`; the toolkit's own scope still serves it.
    pub(super) fn with_toolkit(
        &self,
        mut entry: Entry,
        replace: bool,
    ) -> Result<(Catalog, Changed), HubError> {
        let name = entry.name().to_string();
        let position = self.entries.iter().position(|e| e.name() == name);
        if position.is_some() && !replace {
            return Err(HubError::Conflict(format!(
                "a toolkit named '{name}' is already registered"
            )));
        }
        if self.views.contains_key(&name) {
            return Err(HubError::Conflict(format!(
                "'{name}' is the name of a virtual server"
            )));
        }
        let mut qualified_tools = names_without(&self.qualified_tools, &name);
        let mut qualified_prompts = names_without(&self.qualified_prompts, &name);
        let mode = entry.toolkit.naming();
        let tool_names: Vec<String> = entry.tools.iter().map(|t| t.name.to_string()).collect();
        for tool in tool_names {
            let candidates = mode.candidates(&name, &tool);
            match place(&mut qualified_tools, &candidates, (&name, &tool)) {
                Ok(chosen) => {
                    entry.mcp_tool_names.insert(tool, chosen);
                }
                Err((taken, (other_kit, other_tool))) => entry.collisions.push(NameCollision {
                    kind: "tool",
                    item: tool,
                    name: taken,
                    taken_by_toolkit: other_kit,
                    taken_by: other_tool,
                }),
            }
        }
        let prompt_names: Vec<String> = entry.prompts.iter().map(|p| p.name.clone()).collect();
        for prompt in prompt_names {
            let candidates = [qualified_tool_name(&name, &prompt)];
            match place(&mut qualified_prompts, &candidates, (&name, &prompt)) {
                Ok(chosen) => {
                    entry.mcp_prompt_names.insert(prompt, chosen);
                }
                Err((taken, (other_kit, other_prompt))) => entry.collisions.push(NameCollision {
                    kind: "prompt",
                    item: prompt,
                    name: taken,
                    taken_by_toolkit: other_kit,
                    taken_by: other_prompt,
                }),
            }
        }
        let changed = Changed {
            prompts: !entry.prompts.is_empty() || replace,
            resources: !entry.uri_prefixes.is_empty() || !entry.templates.is_empty() || replace,
        };
        let entry = Arc::new(entry);
        let mut entries = self.entries.clone();
        match position {
            Some(index) => entries[index] = entry,
            None => entries.push(entry),
        }
        let next = Catalog {
            entries,
            qualified_tools,
            qualified_prompts,
            views: self.views.clone(),
        };
        Ok((next, changed))
    }

    /// The next catalog without the toolkit `name`; `None` when there is none.
    pub(super) fn without(&self, name: &str) -> Option<Catalog> {
        self.entry(name)?;
        Some(Catalog {
            entries: self
                .entries
                .iter()
                .filter(|entry| entry.name() != name)
                .cloned()
                .collect(),
            qualified_tools: names_without(&self.qualified_tools, name),
            qualified_prompts: names_without(&self.qualified_prompts, name),
            views: self.views.clone(),
        })
    }

    /// The next catalog with these virtual servers. A name a toolkit has, patterns
    /// that pick nothing or cannot match, and a name used twice are refused.
    pub(super) fn with_views(&self, views: Vec<VirtualServer>) -> Result<Catalog, HubError> {
        let mut map = HashMap::new();
        for view in views {
            if !is_valid_name(&view.name) {
                return Err(HubError::invalid_argument(
                    "virtual_servers.name",
                    format!("'{}' must be 1-64 letters, digits, '_' or '-'", view.name),
                ));
            }
            if self.entry(&view.name).is_some() {
                return Err(HubError::Conflict(format!(
                    "virtual server '{}' has the name of a toolkit",
                    view.name
                )));
            }
            if view.tools.allow.is_empty() {
                return Err(HubError::invalid_argument(
                    "virtual_servers.tools",
                    format!("virtual server '{}' picks no tools", view.name),
                ));
            }
            view.tools
                .validate()
                .map_err(|reason| HubError::invalid_argument("virtual_servers.tools", reason))?;
            if map.insert(view.name.clone(), view).is_some() {
                return Err(HubError::Conflict(
                    "two virtual servers share a name".into(),
                ));
            }
        }
        Ok(Catalog {
            entries: self.entries.clone(),
            qualified_tools: self.qualified_tools.clone(),
            qualified_prompts: self.qualified_prompts.clone(),
            views: Arc::new(map),
        })
    }
}

/// The `/mcp` names held by toolkits other than `toolkit`.
fn names_without(
    names: &HashMap<String, (String, String)>,
    toolkit: &str,
) -> HashMap<String, (String, String)> {
    names
        .iter()
        .filter(|(_, (kit, _))| kit != toolkit)
        .map(|(name, target)| (name.clone(), target.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::{
        access::ToolRules,
        context::CallContext,
        mcp::{CallToolResult, JsonObject},
        naming::NamingMode,
    };

    struct Kit {
        name: &'static str,
        tools: &'static [&'static str],
        naming: NamingMode,
    }

    #[async_trait]
    impl Toolkit for Kit {
        fn name(&self) -> &str {
            self.name
        }
        fn naming(&self) -> NamingMode {
            self.naming
        }
        fn tools(&self) -> Vec<Tool> {
            self.tools
                .iter()
                .map(|name| Tool::new(name.to_string(), "a test tool", Arc::new(JsonObject::new())))
                .collect()
        }
        async fn call_tool(
            &self,
            _ctx: &CallContext,
            _name: &str,
            _arguments: JsonObject,
        ) -> Result<CallToolResult, HubError> {
            Err(HubError::internal("not called by these tests"))
        }
    }

    fn kit(name: &'static str, tools: &'static [&'static str]) -> Entry {
        named(name, tools, NamingMode::Prefix)
    }

    fn named(name: &'static str, tools: &'static [&'static str], naming: NamingMode) -> Entry {
        Entry::build(Arc::new(Kit {
            name,
            tools,
            naming,
        }))
        .expect("a valid toolkit")
    }

    fn with(catalog: &Catalog, entry: Entry) -> Catalog {
        catalog.with_toolkit(entry, false).expect("added").0
    }

    fn view(name: &str, allow: &[&str]) -> VirtualServer {
        VirtualServer {
            name: name.into(),
            description: None,
            tools: ToolRules {
                allow: allow.iter().map(|pattern| pattern.to_string()).collect(),
                deny: Vec::new(),
            },
        }
    }

    #[test]
    fn a_taken_name_is_left_off_mcp_with_who_holds_it() {
        let catalog = with(&Catalog::default(), kit("a", &["b_c"]));
        let catalog = with(&catalog, kit("a_b", &["c", "d"]));
        let late = catalog.entry("a_b").expect("registered");
        assert_eq!(late.mcp_tool_name("c"), None);
        assert_eq!(late.mcp_tool_name("d"), Some("a_b_d"));
        assert_eq!(late.collisions.len(), 1);
        let collision = &late.collisions[0];
        assert_eq!(
            (
                collision.kind,
                collision.item.as_str(),
                collision.name.as_str(),
                collision.taken_by_toolkit.as_str(),
                collision.taken_by.as_str()
            ),
            ("tool", "c", "a_b_c", "a", "b_c")
        );
        assert_eq!(
            catalog.qualified_tools.get("a_b_c"),
            Some(&("a".to_string(), "b_c".to_string()))
        );
    }

    #[test]
    fn on_collision_naming_keeps_the_bare_name_until_it_is_taken() {
        let catalog = with(
            &Catalog::default(),
            named("files", &["read"], NamingMode::OnCollision),
        );
        let catalog = with(&catalog, named("notes", &["read"], NamingMode::OnCollision));
        assert_eq!(
            catalog.entry("files").and_then(|e| e.mcp_tool_name("read")),
            Some("read")
        );
        assert_eq!(
            catalog.entry("notes").and_then(|e| e.mcp_tool_name("read")),
            Some("notes_read")
        );
    }

    #[test]
    fn a_second_toolkit_of_one_name_is_refused_unless_replacing_in_place() {
        let catalog = with(&Catalog::default(), kit("a", &["old"]));
        let catalog = with(&catalog, kit("b", &["x"]));
        assert!(matches!(
            catalog.with_toolkit(kit("a", &["new"]), false),
            Err(HubError::Conflict(_))
        ));
        let (next, changed) = catalog
            .with_toolkit(kit("a", &["new"]), true)
            .expect("replaced");
        let order: Vec<&str> = next.entries.iter().map(|entry| entry.name()).collect();
        assert_eq!(order, ["a", "b"]);
        assert!(
            !next.qualified_tools.contains_key("a_old"),
            "its old name is freed"
        );
        assert!(next.qualified_tools.contains_key("a_new"));
        assert_eq!(
            changed,
            Changed {
                prompts: true,
                resources: true
            },
            "a replaced toolkit may have changed anything"
        );
        let (_, added) = Catalog::default()
            .with_toolkit(kit("c", &["x"]), false)
            .expect("added");
        assert_eq!(
            added,
            Changed {
                prompts: false,
                resources: false
            }
        );
    }

    #[test]
    fn removing_a_toolkit_frees_its_names() {
        let catalog = with(&Catalog::default(), kit("a", &["x"]));
        assert!(catalog.without("missing").is_none());
        let next = catalog.without("a").expect("removed");
        assert!(next.entries.is_empty());
        assert!(next.qualified_tools.is_empty());
        let again = with(&next, kit("a_x", &[]));
        assert!(again.entry("a_x").is_some());
    }

    #[test]
    fn views_and_toolkits_never_share_a_name_and_views_pick_tools() {
        let catalog = with(&Catalog::default(), kit("desk", &["read", "write"]));
        assert!(matches!(
            catalog.with_views(vec![view("desk", &["desk.read"])]),
            Err(HubError::Conflict(_))
        ));
        assert!(catalog.with_views(vec![view("empty", &[])]).is_err());
        assert!(
            catalog
                .with_views(vec![view("twice", &["desk"]), view("twice", &["desk"])])
                .is_err()
        );
        let catalog = catalog
            .with_views(vec![view("readers", &["desk.read"])])
            .expect("views");
        let scope = Scope::View("readers".into());
        assert!(catalog.serves_tool(&scope, "desk", "read"));
        assert!(!catalog.serves_tool(&scope, "desk", "write"));
        assert_eq!(catalog.in_scope(&scope).count(), 1);
        assert!(matches!(
            catalog.with_toolkit(kit("readers", &["x"]), false),
            Err(HubError::Conflict(_))
        ));
    }
}

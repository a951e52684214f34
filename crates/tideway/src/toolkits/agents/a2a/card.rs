//! Agent cards: Tideway's own at `/.well-known/agent-card.json` (public: it names
//! the built-in roles as skills and how to authenticate; a task sent to it goes to
//! the agent that fits best), the same card for a signed-in tenant with its own
//! agents as skills (the extended card), and one card per agent.

use serde_json::{Value, json};

use super::super::{definition::AgentDefinition, store::AgentVersion};

/// The A2A protocol version served.
pub const PROTOCOL_VERSION: &str = "1.0";

fn skill(agent: &AgentDefinition) -> Value {
    json!({
        "id": agent.name,
        "name": agent.name.replace('_', " "),
        "description": agent.description,
        "tags": agent.capabilities,
        "inputModes": ["text/plain", "application/json"],
        "outputModes": if agent.output_schema.is_some() {
            json!(["application/json", "text/plain"])
        } else {
            json!(["text/plain"])
        },
    })
}

/// What every card shares: where to send, how to sign in, what it can do.
fn card(
    base: &str,
    path: &str,
    name: &str,
    description: &str,
    version: &str,
    skills: Vec<Value>,
) -> Value {
    json!({
        "name": name,
        "description": description,
        "supportedInterfaces": [{
            "url": format!("{base}{path}"),
            "protocolBinding": "JSONRPC",
            "protocolVersion": PROTOCOL_VERSION,
        }],
        "provider": { "organization": "Tideway", "url": base },
        "version": version,
        "documentationUrl": format!("{base}/docs"),
        "capabilities": {
            "streaming": true,
            "pushNotifications": false,
            "extendedAgentCard": true,
        },
        "securitySchemes": {
            "bearer": { "httpAuthSecurityScheme": {
                "scheme": "Bearer",
                "description": "A Tideway API key, or a token from the identity provider Tideway trusts",
            }},
            "apiKey": { "apiKeySecurityScheme": {
                "location": "header",
                "name": "X-API-Key",
                "description": "A Tideway API key",
            }},
        },
        "securityRequirements": [
            { "schemes": { "bearer": { "list": [] } } },
            { "schemes": { "apiKey": { "list": [] } } },
        ],
        "defaultInputModes": ["text/plain", "application/json"],
        "defaultOutputModes": ["text/plain", "application/json"],
        "skills": skills,
    })
}

const HUB_DESCRIPTION: &str = "Tideway's AI agents, working with the hub's tools as whoever sends the task. A task sent here goes to the agent whose capabilities fit it best and that has room; each agent also has its own card.";

/// Tideway's card, with `agents` as its skills.
pub fn hub<'a>(base: &str, agents: impl IntoIterator<Item = &'a AgentDefinition>) -> Value {
    card(
        base,
        "/a2a",
        "Tideway",
        HUB_DESCRIPTION,
        env!("CARGO_PKG_VERSION"),
        agents.into_iter().map(skill).collect(),
    )
}

/// One agent's card.
pub fn agent(base: &str, version: &AgentVersion) -> Value {
    let agent = &version.agent;
    card(
        base,
        &format!("/a2a/{}", agent.name),
        &agent.name,
        &agent.description,
        &version.version.to_string(),
        vec![skill(agent)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolkits::agents::definition::builtin_agents;

    #[test]
    fn the_public_card_names_the_builtin_roles_and_how_to_sign_in() {
        let card = hub("http://127.0.0.1:8080", builtin_agents());
        assert_eq!(
            card["supportedInterfaces"][0]["url"],
            "http://127.0.0.1:8080/a2a"
        );
        assert_eq!(card["supportedInterfaces"][0]["protocolVersion"], "1.0");
        let skills: Vec<&str> = card["skills"]
            .as_array()
            .expect("skills")
            .iter()
            .filter_map(|skill| skill["id"].as_str())
            .collect();
        assert_eq!(skills.len(), builtin_agents().len());
        assert!(skills.contains(&"data_analyst"));
        assert!(card["securitySchemes"]["bearer"].is_object());
    }

    #[test]
    fn an_agent_card_points_at_its_own_endpoint() {
        let version = AgentVersion {
            version: 3,
            agent: builtin_agents()[0].clone(),
            created_by: "key:1".into(),
        };
        let card = agent("https://hub.example.com", &version);
        assert_eq!(
            card["supportedInterfaces"][0]["url"],
            format!("https://hub.example.com/a2a/{}", version.agent.name)
        );
        assert_eq!(card["version"], "3");
        assert_eq!(card["skills"].as_array().map(Vec::len), Some(1));
    }
}

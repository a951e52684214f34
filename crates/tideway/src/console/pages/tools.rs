//! Tools: every tool the signed-in caller may call, grouped by toolkit and searchable
//! (by the system toolkit's `find_tools` where it is enabled), the MCP connection
//! snippet for this server, and a tool's page with a form made from its input schema
//! that calls it and shows the result.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Action, Session, refused, toolkit_tools};
use crate::console::{Shared, api::segment, schema_form};

#[derive(Deserialize)]
pub struct Search {
    q: Option<String>,
}

/// The toolkits and tools the caller may call.
async fn catalog(console: &Shared, session: &Session) -> Result<Vec<Value>, Response> {
    console
        .api
        .get(&session.caller, &session.request_id, "/api/v1/toolkits")
        .await
        .map(|list| list.as_array().cloned().unwrap_or_default())
        .map_err(|refusal| refused(console, session, "tools", &refusal))
}

/// The tools matching `query`, best first, as `{toolkit, tool}` rows: by `find_tools`
/// when the system toolkit serves it, else by the words in names and descriptions.
async fn search(console: &Shared, session: &Session, catalog: &[Value], query: &str) -> Vec<Value> {
    let found = console
        .api
        .post(
            &session.caller,
            &session.request_id,
            "/api/v1/tools/system/find_tools",
            json!({"query": query, "limit": 50}),
        )
        .await;
    let rows = |toolkit: &Value, tool: &Value| json!({"toolkit": toolkit["name"], "name": tool["name"], "description": tool["description"]});
    if let Ok(found) = found
        && let Some(found) = found["structuredContent"]["tools"].as_array()
    {
        // find_tools names tools as `/mcp` does; the catalog maps them back.
        return found
            .iter()
            .filter_map(|hit| {
                let toolkit = catalog.iter().find(|t| t["name"] == hit["toolkit"])?;
                let tool = toolkit["tools"]
                    .as_array()?
                    .iter()
                    .find(|t| t["qualified_name"] == hit["name"] || t["name"] == hit["name"])?;
                Some(rows(toolkit, tool))
            })
            .collect();
    }
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    catalog
        .iter()
        .flat_map(|toolkit| {
            toolkit["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |tool| (toolkit, tool))
        })
        .filter(|(toolkit, tool)| {
            let text = format!(
                "{} {} {}",
                toolkit["name"], tool["name"], tool["description"]
            )
            .to_lowercase();
            words.iter().all(|word| text.contains(word.as_str()))
        })
        .map(|(toolkit, tool)| rows(toolkit, tool))
        .collect()
}

pub async fn list(
    State(console): State<Shared>,
    headers: HeaderMap,
    session: Session,
    Query(query): Query<Search>,
) -> Response {
    let catalog = match catalog(&console, &session).await {
        Ok(catalog) => catalog,
        Err(response) => return response,
    };
    let query = query
        .q
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty());
    let found = match &query {
        Some(query) => Some(search(&console, &session, &catalog, query).await),
        None => None,
    };
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    let key_prefix = session
        .caller
        .principal
        .id
        .strip_prefix("key:")
        .map(|prefix| format!("tw_{prefix}_…"));
    console.views.page(
        "tools.html",
        &session,
        "tools",
        json!({
            "title": "Tools",
            "toolkits": catalog,
            "query": query,
            "found": found,
            "mcp_url": format!("http://{host}/mcp"),
            "key_hint": key_prefix,
        }),
    )
}

/// A tool as the catalog lists it, if the caller may call it.
async fn find(
    console: &Shared,
    session: &Session,
    toolkit: &str,
    tool: &str,
) -> Result<Value, Response> {
    // A toolkit that is not there (or none of whose tools the caller may call) is a
    // tool that is not there.
    toolkit_tools(console, session, toolkit)
        .await
        .into_iter()
        .find(|t| t["name"] == tool)
        .ok_or_else(|| {
            let mut response = console.views.page(
                "message.html",
                session,
                "tools",
                json!({"title": "No such tool", "text": format!("There is no tool {toolkit}.{tool} you may call.")}),
            );
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        })
}

fn tool_page(
    console: &Shared,
    session: &Session,
    (toolkit, tool): (&str, &Value),
    fields: &[schema_form::Field],
    outcome: Value,
) -> Response {
    console.views.page(
        "tool.html",
        session,
        "tools",
        json!({
            "title": format!("{toolkit}.{}", tool["name"].as_str().unwrap_or_default()),
            "toolkit": toolkit,
            "tool": tool,
            "read_only": tool["annotations"]["readOnlyHint"] == true,
            "fields": fields,
            "action": format!("/console/tools/{}/{}", segment(toolkit), segment(tool["name"].as_str().unwrap_or_default())),
            "outcome": outcome,
        }),
    )
}

pub async fn page(
    State(console): State<Shared>,
    session: Session,
    Path((toolkit, tool)): Path<(String, String)>,
) -> Response {
    let tool = match find(&console, &session, &toolkit, &tool).await {
        Ok(tool) => tool,
        Err(response) => return response,
    };
    let fields = schema_form::fields(&tool["input_schema"]);
    tool_page(&console, &session, (&toolkit, &tool), &fields, Value::Null)
}

/// Calls the tool with the form's arguments and shows its result (or why not) under
/// the form, which keeps what was typed.
pub async fn call(
    State(console): State<Shared>,
    Path((toolkit, tool_name)): Path<(String, String)>,
    Action { session, form }: Action,
) -> Response {
    let tool = match find(&console, &session, &toolkit, &tool_name).await {
        Ok(tool) => tool,
        Err(response) => return response,
    };
    let mut fields = schema_form::fields(&tool["input_schema"]);
    let arguments = schema_form::arguments(&fields, &form);
    schema_form::refill(&mut fields, &form);
    let (status, outcome) = match arguments {
        Err(error) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": format!("{}: {}", error.field, error.message), "field": error.field}),
        ),
        Ok(arguments) => {
            let path = format!(
                "/api/v1/tools/{}/{}",
                segment(&toolkit),
                segment(&tool_name)
            );
            match console
                .api
                .post(
                    &session.caller,
                    &session.request_id,
                    &path,
                    Value::Object(arguments),
                )
                .await
            {
                Ok(result) => {
                    let text: Vec<&str> = result["content"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|block| block["text"].as_str())
                        .collect();
                    (
                        StatusCode::OK,
                        json!({"result": result["structuredContent"], "text": text.join("\n")}),
                    )
                }
                Err(refusal) => (refusal.status, json!({"error": refusal.detail})),
            }
        }
    };
    let mut response = tool_page(&console, &session, (&toolkit, &tool), &fields, outcome);
    *response.status_mut() = status;
    response
}

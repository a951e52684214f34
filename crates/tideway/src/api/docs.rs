//! The OpenAPI document (generated from the handlers' annotations) and a readable
//! docs page rendered from it on the server, so it works offline with no script.

use std::{fmt::Write, sync::Arc};

use axum::{
    extract::State,
    response::{Html, IntoResponse, Response},
};
use utoipa::openapi::{OpenApi, path::Operation};

pub async fn openapi_json(State(doc): State<Arc<OpenApi>>) -> Response {
    axum::Json(doc.as_ref().clone()).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn operations(item: &utoipa::openapi::PathItem) -> Vec<(&'static str, &Operation)> {
    [
        ("GET", item.get.as_ref()),
        ("POST", item.post.as_ref()),
        ("PUT", item.put.as_ref()),
        ("PATCH", item.patch.as_ref()),
        ("DELETE", item.delete.as_ref()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

pub async fn docs_page(State(doc): State<Arc<OpenApi>>) -> Html<String> {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Tideway API</title>\
         <style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2733}\
         h2{border-bottom:1px solid #ccd;padding-bottom:.3rem;margin-top:2rem}\
         .op{border:1px solid #dde;border-radius:6px;padding:.6rem 1rem;margin:.8rem 0}\
         .m{display:inline-block;min-width:4.5rem;font-weight:700;font-family:monospace}\
         code{background:#f2f4f7;padding:.1rem .3rem;border-radius:3px}\
         pre{background:#f6f8fa;padding:.6rem;overflow:auto;font-size:.85rem}</style></head><body>",
    );
    let _ = write!(
        html,
        "<h1>{} <small>{}</small></h1><p>{}</p><p>Machine-readable: <a href=\"/openapi.json\"><code>/openapi.json</code></a>. \
         MCP clients connect to <code>/mcp</code> (every toolkit) or <code>/mcp/{{toolkit}}</code>.</p>",
        escape(&doc.info.title),
        escape(&doc.info.version),
        escape(doc.info.description.as_deref().unwrap_or_default()),
    );
    let mut by_tag: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (path, item) in doc.paths.paths.iter() {
        for (method, op) in operations(item) {
            let tag = op
                .tags
                .as_ref()
                .and_then(|tags| tags.first().cloned())
                .unwrap_or_else(|| "other".into());
            let mut entry = format!(
                "<div class=\"op\"><span class=\"m\">{method}</span><code>{}</code><p>{}</p>",
                escape(path),
                escape(
                    op.description
                        .as_deref()
                        .or(op.summary.as_deref())
                        .unwrap_or_default()
                )
            );
            let responses: Vec<String> = op.responses.responses.keys().cloned().collect();
            let _ = write!(
                entry,
                "<p>Responses: {}</p></div>",
                escape(&responses.join(", "))
            );
            by_tag.entry(tag).or_default().push(entry);
        }
    }
    for (tag, entries) in by_tag {
        let _ = write!(html, "<h2>{}</h2>{}", escape(&tag), entries.join(""));
    }
    if let Some(components) = &doc.components {
        html.push_str("<h2>Schemas</h2>");
        for (name, schema) in &components.schemas {
            let json = serde_json::to_string_pretty(schema).unwrap_or_default();
            let _ = write!(
                html,
                "<h3>{}</h3><pre>{}</pre>",
                escape(name),
                escape(&json)
            );
        }
    }
    html.push_str("</body></html>");
    Html(html)
}

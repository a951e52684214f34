//! The console's HTML: minijinja templates compiled into the binary, escaped for HTML
//! by default, and rendered with what every page shows (who is signed in, the CSRF
//! token its forms carry, which section is open).

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use minijinja::{Environment, Value as Template};
use serde_json::{Value, json};
use tideway_core::Role;

use super::session::Session;

/// Each template by name, as the templates folder holds it.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("message.html", include_str!("templates/message.html")),
    ("signed_in.html", include_str!("templates/signed_in.html")),
    ("overview.html", include_str!("templates/overview.html")),
    (
        "overview_live.html",
        include_str!("templates/overview_live.html"),
    ),
    ("tools.html", include_str!("templates/tools.html")),
    ("tool.html", include_str!("templates/tool.html")),
    (
        "form_fields.html",
        include_str!("templates/form_fields.html"),
    ),
    ("upstreams.html", include_str!("templates/upstreams.html")),
    ("workflows.html", include_str!("templates/workflows.html")),
    ("template.html", include_str!("templates/template.html")),
    ("execution.html", include_str!("templates/execution.html")),
    (
        "execution_live.html",
        include_str!("templates/execution_live.html"),
    ),
    ("agents.html", include_str!("templates/agents.html")),
    ("agent_run.html", include_str!("templates/agent_run.html")),
    (
        "agent_run_live.html",
        include_str!("templates/agent_run_live.html"),
    ),
    ("audit.html", include_str!("templates/audit.html")),
    (
        "connections.html",
        include_str!("templates/connections.html"),
    ),
    ("keys.html", include_str!("templates/keys.html")),
    ("lakehouse.html", include_str!("templates/lakehouse.html")),
    ("table.html", include_str!("templates/table.html")),
    ("collection.html", include_str!("templates/collection.html")),
];

pub struct Views {
    env: Environment<'static>,
}

impl Views {
    pub fn new() -> Self {
        let mut env = Environment::new();
        // A field an answer leaves out shows as nothing rather than failing the page.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, source) in TEMPLATES {
            // The templates are part of the binary and covered by its tests; one
            // that does not parse shows as a render error naming it.
            if let Err(error) = env.add_template(name, source) {
                tracing::error!(template = name, %error, "console template does not parse");
            }
        }
        env.add_filter("pretty", |value: Template| {
            serde_json::to_string_pretty(&value).unwrap_or_default()
        });
        // A value placed in a URL's path, escaped as one segment.
        env.add_filter("segment", |text: String| super::api::segment(&text));
        env.add_filter("short", |text: String, length: Option<usize>| {
            let length = length.unwrap_or(80);
            if text.chars().count() <= length {
                text
            } else {
                let mut cut: String = text.chars().take(length).collect();
                cut.push('…');
                cut
            }
        });
        Views { env }
    }

    fn render(&self, name: &str, context: &Value) -> Response {
        let rendered = self
            .env
            .get_template(name)
            .and_then(|template| template.render(context));
        match rendered {
            Ok(html) => Html(html).into_response(),
            Err(error) => {
                tracing::error!(template = name, %error, "console page failed to render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "this page failed to render; the server log has the details",
                )
                    .into_response()
            }
        }
    }

    /// A page inside the console's frame, for a signed-in session.
    pub fn page(
        &self,
        name: &str,
        session: &Session,
        section: &str,
        mut context: Value,
    ) -> Response {
        if let Value::Object(fields) = &mut context {
            let principal = &session.caller.principal;
            fields.insert(
                "me".into(),
                json!({
                    "id": principal.id,
                    "role": principal.role.as_str(),
                    "tenant": session.caller.tenant.as_str(),
                    "operator": principal.role >= Role::Operator,
                    "admin": principal.role >= Role::Admin,
                }),
            );
            fields.insert("csrf".into(), Value::String(session.csrf.clone()));
            fields.insert("section".into(), Value::String(section.to_string()));
        }
        self.render(name, &context)
    }

    /// A page outside the frame (sign-in) or a piece of one (a live fragment).
    pub fn bare(&self, name: &str, context: Value) -> Response {
        self.render(name, &context)
    }

    /// A short page that says what happened, with the status to answer with.
    pub fn message(&self, status: StatusCode, title: &str, text: &str) -> Response {
        let mut response = self.render("message.html", &json!({"title": title, "text": text}));
        *response.status_mut() = status;
        response
    }

    /// A live fragment: like a page's part, never kept by a cache.
    pub fn fragment(&self, name: &str, context: Value) -> Response {
        let mut response = self.render(name, &context);
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let views = Views::new();
        for (name, _) in TEMPLATES {
            assert!(
                views.env.get_template(name).is_ok(),
                "{name} does not parse"
            );
        }
    }

    #[test]
    fn text_is_escaped_for_html() {
        let views = Views::new();
        let response = views.message(StatusCode::OK, "<script>x</script>", "a & b");
        assert_eq!(response.status(), StatusCode::OK);
        let template = views.env.get_template("message.html").expect("template");
        let html = template
            .render(json!({"title": "<script>x</script>", "text": "a & b"}))
            .expect("render");
        assert!(!html.contains("<script>x"), "{html}");
        assert!(html.contains("&lt;script&gt;x"), "{html}");
    }
}

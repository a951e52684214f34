//! The console over HTTP, as a browser without JavaScript meets it: a real server
//! with API-key authentication, signed in through the form, every page read as
//! HTML and every action posted as a form.

mod actions;
mod pages;
mod sign_in;
mod sso;

use std::net::SocketAddr;

use reqwest::{StatusCode, redirect::Policy};
use serde_json::{Value, json};
use tideway_core::{Config, Role, TenantId, config::AuthMode, store::keys::NewApiKey};
use tokio_util::sync::CancellationToken;

use crate::{app::App, server::http_app};

pub struct Site {
    pub base: String,
    pub app: std::sync::Arc<App>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A browser signed in: its session cookie and the CSRF token its pages carry.
pub struct Browser<'a> {
    console: &'a Site,
    cookie: String,
    pub csrf: String,
    /// Who the server knows the browser as: `key:<prefix>`.
    pub principal: String,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    /// Each `Set-Cookie` header, whole.
    pub cookies: Vec<String>,
    pub html: String,
}

impl Page {
    /// `name=value` of the cookie this answer sets under `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .filter_map(|cookie| cookie.split(';').next())
            .find(|pair| pair.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }
}

impl Site {
    pub async fn start() -> Site {
        Site::start_with(|_| {}).await
    }

    /// A site whose configuration `customize` changes last (it sees the bound address).
    pub async fn start_with(customize: impl FnOnce(&mut Config)) -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            bind: addr,
            ..Config::default()
        };
        config.auth.modes = vec![AuthMode::ApiKey];
        config.limits.key_requests_per_second = 0.0;
        config.limits.tenant_requests_per_second = 0.0;
        config
            .update_section(
                "monitor",
                |monitor: &mut crate::toolkits::monitor::settings::MonitorConfig| {
                    monitor.interval_secs = 1;
                },
            )
            .expect("monitor settings");
        customize(&mut config);
        let toolkits: Vec<String> = [
            "system",
            "support",
            "workflows",
            "monitor",
            "models",
            "prompts",
            "agents",
            "lakehouse",
        ]
        .iter()
        .map(|name| name.to_string())
        .collect();
        let app = App::start(config, &toolkits).await.expect("app starts");
        let router = http_app(app.clone(), addr, CancellationToken::new());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Site {
            base: format!("http://{addr}"),
            app,
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            _dir: dir,
        }
    }

    /// A new key of the default tenant in `role`.
    pub async fn key(&self, role: Role) -> String {
        self.app
            .store
            .create_api_key(NewApiKey {
                tenant: TenantId::new(&self.app.config.default_tenant),
                name: format!("console {role}"),
                role,
                rules: Default::default(),
                inherited_rules: Vec::new(),
                expires_at: None,
                created_by: "test".into(),
            })
            .await
            .expect("key")
            .1
    }

    /// A call to the REST API with a key, for setting up what a test looks at.
    pub async fn rest(&self, key: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("rest call");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// A request to anywhere (another server, such as an identity provider), not
    /// following redirects, as the site's browser.
    pub async fn get_url(&self, url: &str, cookie: Option<&str>) -> Page {
        let mut request = self.http.get(url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        page(request.send().await.expect("get")).await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        page(request.send().await.expect("get")).await
    }

    pub async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        page(request.send().await.expect("post")).await
    }

    /// Signs in with `key` through the form and reads the CSRF token off a page.
    pub async fn sign_in(&self, key: &str) -> Browser<'_> {
        let signed = self
            .http
            .post(format!("{}/console/sign-in", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs([("credential", key), ("next", "/console/tools")])
                    .finish(),
            )
            .send()
            .await
            .expect("sign in");
        assert_eq!(signed.status(), StatusCode::SEE_OTHER);
        let cookie = signed
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_string();
        let page = self.get("/console/tools", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        let csrf = csrf(&page.html).expect("a CSRF token on the page");
        Browser {
            console: self,
            cookie,
            csrf,
            principal: format!("key:{}", prefix(key)),
        }
    }
}

async fn page(response: reqwest::Response) -> Page {
    Page {
        status: response.status(),
        location: response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        cookies: response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect(),
        html: response.text().await.unwrap_or_default(),
    }
}

/// The CSRF token in a page's forms.
pub fn csrf(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

impl Browser<'_> {
    pub async fn get(&self, path: &str) -> Page {
        self.console.get(path, Some(&self.cookie)).await
    }

    /// Posts a form with this session's CSRF token.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let mut with_token = vec![("csrf", self.csrf.as_str())];
        with_token.extend_from_slice(form);
        self.console
            .post(path, Some(&self.cookie), &with_token)
            .await
    }

    /// Posts a form without the CSRF token.
    pub async fn post_without_token(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.console.post(path, Some(&self.cookie), form).await
    }

    pub fn cookie(&self) -> &str {
        &self.cookie
    }
}

/// A workflow template with one input field and one step, saved by an admin.
pub async fn save_greeting(console: &Site, admin_key: &str) {
    console
        .rest(
            admin_key,
            reqwest::Method::PUT,
            "/api/v1/workflows/templates/greet",
            json!({
                "id": "greet", "name": "Greet",
                "description": "Says hello",
                "input_schema": {"type": "object", "properties": {"who": {"type": "string"}}, "required": ["who"]},
                "steps": [
                    {"id": "hello", "tool": "system_echo", "arguments": {"message": "hello {{ input.who }}"}},
                    {"id": "again", "needs": ["hello"], "tool": "system_echo", "arguments": {"message": "again"}}
                ]
            }),
        )
        .await;
}

/// A key's prefix: `tw_`, then the 12 characters that name it (which may hold `_`).
pub fn prefix(key: &str) -> &str {
    key.get(3..15).unwrap_or_default()
}

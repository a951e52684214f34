//! Acting through the console: every action needs the session's CSRF token, and the
//! caller's role decides what it may do exactly as over REST.

use reqwest::StatusCode;
use serde_json::json;
use tideway_core::Role;

use super::{Site, save_greeting};

#[tokio::test]
async fn a_tool_is_tried_from_its_form_and_shows_its_result() {
    let console = Site::start().await;
    let key = console.key(Role::Operator).await;
    let browser = console.sign_in(&key).await;
    let page = browser.get("/console/tools/system/echo").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("name=\"arg.message\""), "{}", page.html);

    let refused = browser
        .post_without_token("/console/tools/system/echo", &[("arg.message", "hi")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!refused.html.contains("\"message\": \"hi\""));

    let called = browser
        .post(
            "/console/tools/system/echo",
            &[("arg.message", "hello <b>there")],
        )
        .await;
    assert_eq!(called.status, StatusCode::OK, "{}", called.html);
    // The result, escaped, and the form keeps what was typed.
    assert!(
        called
            .html
            .contains("&quot;message&quot;: &quot;hello &lt;b&gt;there&quot;"),
        "{}",
        called.html
    );
    assert!(
        called.html.contains("value=\"hello &lt;b&gt;there\""),
        "{}",
        called.html
    );

    // Every call from the console is in the audit log as the key's call (written
    // in the background, so it is waited for).
    let prefix = super::prefix(&key);
    let mut audit = Vec::new();
    for _ in 0..100 {
        audit = console
            .app
            .store
            .query_audit(&tideway_core::store::AuditQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("audit");
        if !audit.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        audit.iter().any(|entry| entry.record.tool == "echo"
            && entry.record.principal == format!("key:{prefix}")
            && entry.record.outcome == "ok"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_value_that_does_not_fit_is_named_and_kept() {
    let console = Site::start().await;
    let browser = console.sign_in(&console.key(Role::Operator).await).await;
    let page = browser.get("/console/tools/support/get_customers").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("name=\"arg.limit\""), "{}", page.html);
    let refused = browser
        .post(
            "/console/tools/support/get_customers",
            &[("arg.limit", "ten")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.html.contains("limit: must be a whole number"),
        "{}",
        refused.html
    );
    assert!(refused.html.contains("value=\"ten\""), "{}", refused.html);
    // The schema check on the call path names the field too.
    let refused = browser
        .post(
            "/console/tools/support/get_customers",
            &[("arg.limit", "-5")],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(refused.html.contains("limit"), "{}", refused.html);
}

#[tokio::test]
async fn a_viewer_sees_but_cannot_act() {
    let console = Site::start().await;
    let admin = console.key(Role::Admin).await;
    save_greeting(&console, &admin).await;
    let browser = console.sign_in(&console.key(Role::Viewer).await).await;
    // Write tools are not offered, and calling one is refused as over REST.
    let tools = browser.get("/console/tools").await;
    assert!(tools.html.contains("/console/tools/support/get_customers"));
    assert!(
        !tools
            .html
            .contains("/console/tools/support/create_customer"),
        "{}",
        tools.html
    );
    let refused = browser
        .post(
            "/console/tools/support/create_customer",
            &[
                ("arg.first_name", "A"),
                ("arg.last_name", "B"),
                ("arg.email", "a@b.test"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.html);
    // No start form for a viewer, and a start posted anyway is refused.
    let template = browser.get("/console/workflows/templates/greet").await;
    assert_eq!(template.status, StatusCode::OK);
    assert!(
        !template.html.contains("name=\"arg.who\""),
        "{}",
        template.html
    );
    let started = browser
        .post("/console/workflows/templates/greet", &[("arg.who", "eve")])
        .await;
    assert_eq!(started.status, StatusCode::FORBIDDEN, "{}", started.html);
    // Upstreams and the audit log are for admins.
    let upstreams = browser.get("/console/upstreams").await;
    assert_eq!(upstreams.status, StatusCode::FORBIDDEN);
    assert!(upstreams.html.contains("admin role"), "{}", upstreams.html);
    let added = browser
        .post(
            "/console/upstreams",
            &[
                ("name", "sneaky"),
                ("transport", "http"),
                ("url", "http://127.0.0.1:9/mcp"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::FORBIDDEN);
    assert!(console.app.gateway.get("sneaky").await.is_none());
    assert_eq!(
        browser.get("/console/audit").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_admin_adds_and_removes_an_upstream() {
    let console = Site::start().await;
    let browser = console.sign_in(&console.key(Role::Admin).await).await;
    let without_token = browser
        .post_without_token(
            "/console/upstreams",
            &[
                ("name", "far"),
                ("transport", "http"),
                ("url", "http://127.0.0.1:9/mcp"),
            ],
        )
        .await;
    assert_eq!(without_token.status, StatusCode::FORBIDDEN);
    assert!(console.app.gateway.get("far").await.is_none());

    let added = browser
        .post(
            "/console/upstreams",
            &[
                ("name", "far"),
                ("transport", "http"),
                ("url", "http://127.0.0.1:9/mcp"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    assert_eq!(
        added.location.as_deref(),
        Some("/console/upstreams?done=added")
    );
    assert!(console.app.gateway.get("far").await.is_some());
    let listed = browser.get("/console/upstreams?done=added").await;
    assert!(
        listed.html.contains("The upstream was added"),
        "{}",
        listed.html
    );
    assert!(
        listed.html.contains("/console/upstreams/far/remove"),
        "{}",
        listed.html
    );

    // A refused definition comes back with the reason and what was typed.
    let duplicate = browser
        .post(
            "/console/upstreams",
            &[
                ("name", "far"),
                ("transport", "http"),
                ("url", "http://127.0.0.1:9/other"),
            ],
        )
        .await;
    assert!(duplicate.status.is_client_error(), "{}", duplicate.html);
    assert!(
        duplicate.html.contains("already used"),
        "{}",
        duplicate.html
    );
    assert!(
        duplicate.html.contains("127.0.0.1:9&#x2f;other"),
        "{}",
        duplicate.html
    );

    let removed = browser.post("/console/upstreams/far/remove", &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.html);
    assert!(console.app.gateway.get("far").await.is_none());
}

#[tokio::test]
async fn a_workflow_started_from_its_form_runs_to_the_end_and_is_drawn() {
    let console = Site::start().await;
    let admin = console.key(Role::Admin).await;
    save_greeting(&console, &admin).await;
    let browser = console.sign_in(&console.key(Role::Operator).await).await;
    let list = browser.get("/console/workflows").await;
    assert!(
        list.html.contains("/console/workflows/templates/greet"),
        "{}",
        list.html
    );
    let form = browser.get("/console/workflows/templates/greet").await;
    assert!(form.html.contains("name=\"arg.who\""), "{}", form.html);
    let missing = browser
        .post("/console/workflows/templates/greet", &[])
        .await;
    assert_eq!(
        missing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        missing.html
    );
    assert!(missing.html.contains("who"), "{}", missing.html);

    let started = browser
        .post("/console/workflows/templates/greet", &[("arg.who", "ada")])
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let run_page = started.location.expect("the run's page");
    assert!(
        run_page.starts_with("/console/workflows/executions/"),
        "{run_page}"
    );
    // The run's event stream, which the console passes on as the signed-in caller,
    // ends when the run does.
    let events = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        browser.get(&format!("{run_page}/events")),
    )
    .await
    .expect("the stream ends with the run");
    assert_eq!(events.status, StatusCode::OK);
    assert!(
        events.html.starts_with("event: execution"),
        "{}",
        events.html
    );
    let final_event = events.html.trim_end().lines().last().unwrap_or_default();
    assert!(
        final_event.contains("\"status\":\"succeeded\""),
        "{}",
        events.html
    );
    let missing = browser
        .get("/console/workflows/executions/no-such-run/events")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.html);
    let live = browser.get(&format!("{run_page}/live")).await;
    assert_eq!(live.status, StatusCode::OK);
    let last = live.html;
    assert!(last.contains("data-final"), "{last}");
    assert!(last.contains("id=\"run-status\">succeeded"), "{last}");
    // The second step is drawn in the column after the first, with what it needs.
    let hello = last.find("<strong>hello</strong>").expect("hello drawn");
    let again = last.find("<strong>again</strong>").expect("again drawn");
    assert!(hello < again);
    assert!(last.contains("after hello"), "{last}");
    let page = browser.get(&run_page).await;
    assert!(page.html.contains("hello ada"), "{}", page.html);
    // A finished run is no longer refreshed.
    assert!(!page.html.contains("data-live="), "{}", page.html);
}

#[tokio::test]
async fn a_connection_is_added_from_its_tools_schema_tested_and_removed() {
    let console = Site::start().await;
    let index = console.sign_in(&console.key(Role::Viewer).await).await;
    let kinds = index.get("/console/connections").await;
    assert_eq!(kinds.status, StatusCode::OK);
    // Enabled here: prompts and models; not enabled: messaging.
    assert!(
        kinds.html.contains("href=\"/console/connections/prompts\""),
        "{}",
        kinds.html
    );
    assert!(
        !kinds
            .html
            .contains("href=\"/console/connections/clusters\""),
        "{}",
        kinds.html
    );
    let off = index.get("/console/connections/clusters").await;
    assert_eq!(off.status, StatusCode::NOT_FOUND);
    // A viewer lists but gets no form.
    let listed = index.get("/console/connections/prompts").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.html);
    assert!(
        !listed.html.contains("name=\"arg.body\""),
        "{}",
        listed.html
    );

    let admin = console.sign_in(&console.key(Role::Admin).await).await;
    let form = admin.get("/console/connections/prompts").await;
    assert!(form.html.contains("name=\"arg.body\""), "{}", form.html);
    let bad = admin
        .post(
            "/console/connections/prompts",
            &[
                ("arg.name", "Not A Name"),
                ("arg.body", "Hello"),
                ("arg.tags", "[]"),
                ("arg.arguments", "[]"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("name"), "{}", bad.html);
    assert!(bad.html.contains("value=\"Not A Name\""), "{}", bad.html);
    let saved = admin
        .post(
            "/console/connections/prompts",
            &[
                ("arg.name", "greeting"),
                ("arg.body", "Hello there"),
                ("arg.tags", "[]"),
                ("arg.arguments", "[]"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let listed = admin.get("/console/connections/prompts?done=saved").await;
    assert!(listed.html.contains("<td>greeting</td>"), "{}", listed.html);
    assert!(
        listed
            .html
            .contains("/console/connections/prompts/greeting/remove")
    );
    let removed = admin
        .post("/console/connections/prompts/greeting/remove", &[])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.html);
    let listed = admin.get("/console/connections/prompts").await;
    assert!(
        !listed.html.contains("<td>greeting</td>"),
        "{}",
        listed.html
    );

    // A provider that answers nowhere: its test says why, on the page.
    let provider = admin.get("/console/connections/providers").await;
    assert_eq!(provider.status, StatusCode::OK, "{}", provider.html);
    let saved = admin
        .post(
            "/console/connections/providers",
            &[
                ("arg.name", "nowhere"),
                (
                    "arg.provider",
                    r#"{"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}"#,
                ),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let tested = admin
        .post("/console/connections/providers/nowhere/test", &[])
        .await;
    assert!(tested.html.contains("nowhere"), "{}", tested.html);
    assert!(
        tested.html.contains("id=\"tested\"") || tested.html.contains("role=\"alert\""),
        "{}",
        tested.html
    );

    // "Check all" tests each one and shows its health in its row: a provider that
    // answers (a local stand-in for a paid model API) and port 9, which does not.
    let models = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let models_addr = models.local_addr().expect("addr");
    let listing = axum::Router::new().route(
        "/v1/models",
        axum::routing::get(|| async {
            axum::Json(json!({"object": "list", "data": [{"id": "m"}]}))
        }),
    );
    tokio::spawn(async move { axum::serve(models, listing).await });
    let here =
        format!(r#"{{"kind": "openai", "base_url": "http://{models_addr}/v1", "model": "m"}}"#);
    let saved = admin
        .post(
            "/console/connections/providers",
            &[("arg.name", "here"), ("arg.provider", here.as_str())],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let page = admin.get("/console/connections/providers").await;
    assert!(page.html.contains("Check all"), "{}", page.html);
    assert!(!page.html.contains(">Health</th>"), "{}", page.html);
    let checked = admin
        .post("/console/connections/providers/check", &[])
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.html);
    assert!(checked.html.contains(">Health</th>"), "{}", checked.html);
    let row = |name: &str| {
        let start = checked
            .html
            .find(&format!("<td>{name}</td>"))
            .unwrap_or_else(|| panic!("{name} listed: {}", checked.html));
        let end = checked.html[start..]
            .find("</tr>")
            .map_or(checked.html.len(), |end| start + end);
        checked.html[start..end].to_string()
    };
    let (here_row, nowhere_row) = (row("here"), row("nowhere"));
    assert!(here_row.contains("status-ok\">ok<"), "{here_row}");
    assert!(here_row.contains(" ms"), "{here_row}");
    assert!(
        nowhere_row.contains("status-failed\">failing<"),
        "{nowhere_row}"
    );
    assert!(nowhere_row.contains("cannot be reached"), "{nowhere_row}");
    // Checking is an action: without the form's token it is refused.
    let forged = admin
        .post_without_token("/console/connections/providers/check", &[])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_makes_a_key_that_is_shown_once_and_revokes_it() {
    let console = Site::start().await;
    let admin = console.sign_in(&console.key(Role::Admin).await).await;
    let made = admin
        .post(
            "/console/keys",
            &[
                ("name", "reporting bot"),
                ("role", "viewer"),
                ("allow", "support.*"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.html);
    let start =
        made.html.find("<pre id=\"new-key\">").expect("the new key") + "<pre id=\"new-key\">".len();
    let key = made.html[start..]
        .split('<')
        .next()
        .expect("key")
        .to_string();
    assert!(key.starts_with("tw_"), "{key}");
    // The new key works, with the rules it was made with.
    let bot = console.sign_in(&key).await;
    let tools = bot.get("/console/tools").await;
    assert!(
        tools.html.contains("/console/tools/support/get_customers"),
        "{}",
        tools.html
    );
    assert!(
        !tools.html.contains("/console/tools/system/echo"),
        "{}",
        tools.html
    );
    // Listed afterwards without its secret.
    let listed = admin.get("/console/keys").await;
    assert!(listed.html.contains("reporting bot"));
    assert!(!listed.html.contains(&key));
    let prefix = super::prefix(&key);
    let revoked = admin
        .post(&format!("/console/keys/{prefix}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.html);
    if let Some(keys) = console.app.auth.keys() {
        keys.forget(prefix);
    }
    assert_eq!(
        bot.get("/console/tools").await.status,
        StatusCode::SEE_OTHER
    );
    // Keys are for admins.
    let viewer = console.sign_in(&console.key(Role::Viewer).await).await;
    assert_eq!(
        viewer.get("/console/keys").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_task_is_delegated_and_its_run_followed_to_its_end() {
    let console = Site::start().await;
    let operator = console.sign_in(&console.key(Role::Operator).await).await;
    let page = operator.get("/console/agents").await;
    assert!(page.html.contains("name=\"task\""), "{}", page.html);
    assert!(
        page.html.contains("<option value=\"data_analyst\">"),
        "{}",
        page.html
    );
    let empty = operator
        .post(
            "/console/agents/delegate",
            &[("task", ""), ("agent", "data_analyst")],
        )
        .await;
    assert!(empty.status.is_client_error(), "{}", empty.html);
    assert!(empty.html.contains("task"), "{}", empty.html);
    // No model is configured here, so the run ends without an answer, which is
    // still a run to follow.
    let delegated = operator
        .post(
            "/console/agents/delegate",
            &[
                ("task", "How many tickets are open?"),
                ("agent", "data_analyst"),
            ],
        )
        .await;
    assert_eq!(
        delegated.status,
        StatusCode::SEE_OTHER,
        "{}",
        delegated.html
    );
    let run_page = delegated.location.expect("the run's page");
    assert!(run_page.starts_with("/console/agents/runs/"), "{run_page}");
    // Followed through the run's event stream, which ends with a status event.
    let events = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        operator.get(&format!("{run_page}/events")),
    )
    .await
    .expect("the stream ends with the run");
    assert_eq!(events.status, StatusCode::OK);
    assert!(events.html.contains("event: status"), "{}", events.html);
    let last = operator.get(&format!("{run_page}/live")).await.html;
    assert!(last.contains("data-final"), "{last}");
    let page = operator.get(&run_page).await;
    assert!(
        page.html.contains("How many tickets are open?"),
        "{}",
        page.html
    );
    assert!(page.html.contains("Run of data_analyst"), "{}", page.html);

    // The API lets a viewer run an agent (with the viewer's rights), so the
    // console offers it too; a forged form is still refused.
    let viewer = console.sign_in(&console.key(Role::Viewer).await).await;
    let agents = viewer.get("/console/agents").await;
    assert!(agents.html.contains("name=\"task\""), "{}", agents.html);
    let forged = viewer
        .post_without_token(
            "/console/agents/delegate",
            &[("task", "x"), ("agent", "data_analyst")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.html);
}

#[tokio::test]
async fn a_waiting_run_is_followed_as_it_changes_and_approved_from_its_page() {
    let console = Site::start().await;
    let admin = console.key(Role::Admin).await;
    console
        .rest(
            &admin,
            reqwest::Method::PUT,
            "/api/v1/workflows/templates/gated",
            json!({
                "id": "gated", "name": "Gated",
                "steps": [
                    {"id": "ask", "kind": "approval", "message": "Send it?"},
                    {"id": "send", "needs": ["ask"], "tool": "system_echo",
                     "arguments": {"message": "sent"}}
                ]
            }),
        )
        .await;
    let operator = console.sign_in(&console.key(Role::Operator).await).await;
    let started = operator
        .post("/console/workflows/templates/gated", &[])
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let run_page = started.location.expect("the run's page");
    let page = operator.get(&run_page).await;
    // Attribute values are HTML-escaped, `/` included.
    let escaped = run_page.replace('/', "&#x2f;");
    assert!(
        page.html.contains(&format!(
            "data-follow=\"{escaped}&#x2f;events\" data-follow-events=\"execution\""
        )),
        "{}",
        page.html
    );

    // The stream stays open while the run waits, and tells of the approval.
    let mut stream = console
        .http
        .get(format!("{}{run_page}/events", console.base))
        .header("cookie", operator.cookie())
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    let mut seen = String::new();
    let read = |seen: &mut String, chunk: Option<bytes::Bytes>| {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap_or_default()));
    };
    while !seen.contains("\"waiting\"") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), stream.chunk())
            .await
            .expect("an event while waiting")
            .expect("read");
        assert!(chunk.is_some(), "the stream ended early: {seen}");
        read(&mut seen, chunk);
    }
    let approved = operator
        .post(
            &format!("{run_page}/steps/ask/approve"),
            &[("approve", "true")],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.html);
    loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), stream.chunk())
            .await
            .expect("events until the run ends")
            .expect("read");
        let ended = chunk.is_none();
        read(&mut seen, chunk);
        if ended {
            break;
        }
    }
    let last = seen.trim_end().lines().last().unwrap_or_default();
    assert!(last.contains("\"status\":\"succeeded\""), "{seen}");
}

//! The pages that show: health, alerts and charts on the overview, the audit log with
//! its filters, agents, and what every page shares (its security headers, nothing
//! fetched from elsewhere).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tideway_core::Role;

use super::{Site, csrf};

#[tokio::test]
async fn the_overview_shows_health_and_a_firing_alert_that_is_acknowledged_then_resolved() {
    let console = Site::start().await;
    let admin = console.key(Role::Admin).await;
    console
        .rest(
            &admin,
            Method::POST,
            "/api/v1/system/alert-rules",
            json!({"name": "memory_in_use", "metric": "host.memory_percent", "comparison": ">",
                   "threshold": 0, "for_secs": 0, "severity": "critical"}),
        )
        .await;
    let viewer = console.sign_in(&console.key(Role::Viewer).await).await;
    let operator = console.sign_in(&console.key(Role::Operator).await).await;
    let mut page = String::new();
    for _ in 0..150 {
        page = operator.get("/console/overview").await.html;
        if page.contains("memory_in_use") && page.contains("<polyline") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(page.contains("memory_in_use"), "{page}");
    assert!(page.contains("status-critical"), "{page}");
    // Components with their status, and charts drawn from the samples.
    assert!(page.contains("<td>store</td>"), "{page}");
    assert!(
        page.contains("role=\"img\" aria-label=\"Memory\""),
        "{page}"
    );
    assert!(page.contains("<polyline"), "{page}");
    assert!(
        page.contains("data-live=\"/console/overview/live\""),
        "{page}"
    );
    // The live part alone, for the page's script.
    let live = operator.get("/console/overview/live").await;
    assert_eq!(live.status, StatusCode::OK);
    assert!(
        live.html.contains("Components") && !live.html.contains("<html"),
        "{}",
        live.html
    );

    // A viewer sees the alert but no button.
    let seen = viewer.get("/console/overview").await.html;
    assert!(seen.contains("memory_in_use"));
    assert!(!seen.contains("/acknowledge\""), "{seen}");

    let alerts = console
        .rest(
            &admin,
            Method::GET,
            "/api/v1/system/alerts?status=firing",
            json!(null),
        )
        .await;
    let id = alerts["alerts"][0]["id"]
        .as_str()
        .expect("an alert")
        .to_string();
    let refused = viewer
        .post(&format!("/console/alerts/{id}/acknowledge"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    let acknowledged = operator
        .post(&format!("/console/alerts/{id}/acknowledge"), &[])
        .await;
    assert_eq!(
        acknowledged.status,
        StatusCode::SEE_OTHER,
        "{}",
        acknowledged.html
    );
    let alert = console
        .rest(
            &admin,
            Method::GET,
            &format!("/api/v1/system/alerts/{id}"),
            json!(null),
        )
        .await;
    assert!(alert.to_string().contains("acknowledged_by"), "{alert}");
    assert!(alert.to_string().contains(&operator.principal), "{alert}");
    let resolved = operator
        .post(&format!("/console/alerts/{id}/resolve"), &[])
        .await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER, "{}", resolved.html);
    let after = operator.get("/console/overview?done=resolved").await.html;
    assert!(after.contains("The alert was resolved"), "{after}");
}

#[tokio::test]
async fn the_audit_log_is_filtered_for_admins() {
    let console = Site::start().await;
    let admin = console.sign_in(&console.key(Role::Admin).await).await;
    for message in ["one", "two"] {
        let called = admin
            .post("/console/tools/system/echo", &[("arg.message", message)])
            .await;
        assert_eq!(called.status, StatusCode::OK);
    }
    let mut page = String::new();
    for _ in 0..50 {
        page = admin.get("/console/audit?tool=echo").await.html;
        if page.matches("<td>system.echo</td>").count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(page.matches("<td>system.echo</td>").count() >= 2, "{page}");
    assert!(page.contains("value=\"echo\""), "{page}");
    let none = admin.get("/console/audit?tool=no_such_tool").await.html;
    assert!(none.contains("Nothing recorded matches"), "{none}");
}

#[tokio::test]
async fn agents_are_listed_and_a_missing_run_is_said_so() {
    let console = Site::start().await;
    let viewer = console.sign_in(&console.key(Role::Viewer).await).await;
    let page = viewer.get("/console/agents").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("Definitions"), "{}", page.html);
    assert!(page.html.contains("No run yet"), "{}", page.html);
    let missing = viewer.get("/console/agents/runs/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.html);
}

#[tokio::test]
async fn every_page_is_self_contained_and_framed_by_no_one() {
    let console = Site::start().await;
    let admin = console.sign_in(&console.key(Role::Admin).await).await;
    for path in [
        "/console/overview",
        "/console/tools",
        "/console/tools?q=echo",
        "/console/tools/system/echo",
        "/console/workflows",
        "/console/agents",
        "/console/upstreams",
        "/console/connections",
        "/console/connections/prompts",
        "/console/lakehouse",
        "/console/keys",
        "/console/audit",
    ] {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", console.base))
            .header("cookie", admin.cookie())
            .send()
            .await
            .expect("page");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let policy = response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(policy.contains("default-src 'self'"), "{path}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        let html = response.text().await.expect("html");
        assert!(html.starts_with("<!doctype html>"), "{path}");
        assert!(html.contains("<html lang=\"en\">"), "{path}");
        for outside in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(
                !html.contains(outside),
                "{path} loads from elsewhere: {outside}"
            );
        }
        // Every form that acts carries the session's token.
        let token = csrf(&html).expect("a token");
        assert_eq!(
            html.matches("method=\"post\"").count(),
            html.matches(&format!("name=\"csrf\" value=\"{token}\""))
                .count(),
            "{path}"
        );
    }
    let search = admin.get("/console/tools?q=echo").await.html;
    assert!(search.contains("/console/tools/system/echo"), "{search}");
    let css = reqwest::get(format!("{}/console/assets/console.css", console.base))
        .await
        .expect("css");
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/css")
    );
    let missing = reqwest::get(format!("{}/console/assets/nope.js", console.base))
        .await
        .expect("asset");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_lakehouse_table_shows_its_columns_rows_history_and_lineage() {
    let console = Site::start().await;
    let operator = console.key(Role::Operator).await;
    console
        .rest(
            &operator,
            Method::POST,
            "/api/v1/tools/lakehouse/upload_file",
            // "id,amount\n1,10\n2,25\n", as the tool takes a file: base64.
            json!({"file_content": "aWQsYW1vdW50CjEsMTAKMiwyNQo=", "file_name": "orders.csv", "dataset_name": "orders"}),
        )
        .await;
    let viewer = console.sign_in(&console.key(Role::Viewer).await).await;
    let list = viewer.get("/console/lakehouse").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert!(
        list.html
            .contains("href=\"/console/lakehouse/bronze/orders\""),
        "{}",
        list.html
    );
    assert!(list.html.contains("No gold table yet"), "{}", list.html);
    let table = viewer.get("/console/lakehouse/bronze/orders").await;
    assert_eq!(table.status, StatusCode::OK, "{}", table.html);
    assert!(table.html.contains("<td>amount</td>"), "{}", table.html);
    assert!(table.html.contains("<td>25</td>"), "{}", table.html);
    assert!(
        table
            .html
            .contains("aria-label=\"Lineage of bronze.orders\""),
        "{}",
        table.html
    );
    assert!(!table.html.contains("No history."), "{}", table.html);
    let missing = viewer.get("/console/lakehouse/gold/nothing").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.html);
}

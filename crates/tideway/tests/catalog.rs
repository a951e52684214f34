//! Finding one's way in a large catalog: `find_tools` ranks every callable tool by
//! what it does, `call_tool` calls one by its `/mcp` name, and a virtual server
//! serves a curated set of tools at its own MCP endpoint, over HTTP as clients use it.

mod common;

use common::{args, local, start, text_of};
use serde_json::json;
use tideway_core::config::VirtualServerSpec;

#[tokio::test]
async fn find_tools_ranks_the_tool_that_does_what_is_asked_first() {
    let server = start(|config| {
        config.toolkits = vec!["system".into(), "support".into()];
    })
    .await;
    let hub = &server.app.hub;
    let cases = [
        ("search the knowledge base", "support_search_knowledge_base"),
        ("add a comment to a ticket", "support_add_ticket_comment"),
        ("customer context history", "support_get_customer_context"),
        ("is everything healthy", "system_get_health"),
    ];
    for (query, expected) in cases {
        let found = hub
            .call(
                &local(),
                "system",
                "find_tools",
                args(json!({"query": query, "limit": 3})),
            )
            .await
            .expect("find");
        let structured = found.structured_content.expect("structured");
        let names: Vec<&str> = structured["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .filter_map(|tool| tool["name"].as_str())
            .collect();
        assert_eq!(names.first(), Some(&expected), "{query}: {names:?}");
        assert!(names.len() <= 3);
        assert!(structured["searched"].as_u64().expect("count") > 20);
    }
    let none = hub
        .call(
            &local(),
            "system",
            "find_tools",
            args(json!({"query": "zzzz qqqq"})),
        )
        .await
        .expect("find");
    assert!(text_of(&none).starts_with("No tool matches"));

    // call_tool reaches a found tool through the same call path.
    let created = hub
        .call(
            &local(),
            "system",
            "call_tool",
            args(json!({"name": "support_create_customer", "arguments": {
                "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}})),
        )
        .await
        .expect("call_tool");
    assert_ne!(created.is_error, Some(true), "{}", text_of(&created));
    assert!(text_of(&created).contains("Grace"), "{}", text_of(&created));
    let itself = hub
        .call(
            &local(),
            "system",
            "call_tool",
            args(json!({"name": "system_call_tool", "arguments": {}})),
        )
        .await
        .expect_err("no recursion");
    assert_eq!(itself.kind(), "invalid-arguments");
    let unknown = hub
        .call(
            &local(),
            "system",
            "call_tool",
            args(json!({"name": "support_no_such_tool"})),
        )
        .await
        .expect_err("unknown");
    assert_eq!(unknown.kind(), "unknown-tool");
}

#[tokio::test]
async fn a_virtual_server_is_served_at_its_own_endpoint() {
    let server = start(|config| {
        config.toolkits = vec!["system".into(), "support".into()];
        config.virtual_servers = vec![VirtualServerSpec {
            name: "triage".into(),
            description: Some("What a triage agent needs".into()),
            tools: vec![
                "support.get_ticket*".into(),
                "support.update_ticket".into(),
                "system.find_tools".into(),
            ],
            exclude: vec!["support.get_tickets".into()],
        }];
    })
    .await;
    let listed = common::mcp(
        &format!("{}/mcp/triage", server.base),
        None,
        "tools/list",
        json!({}),
    )
    .await;
    let mut names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "support_get_ticket_details",
            "support_update_ticket",
            "system_find_tools"
        ]
    );
    let triage = format!("{}/mcp/triage", server.base);
    let outside = common::mcp(
        &triage,
        None,
        "tools/call",
        json!({"name": "support_create_ticket", "arguments": {}}),
    )
    .await;
    assert!(
        outside["error"].is_object() || outside["result"]["isError"] == json!(true),
        "{outside}"
    );
    let echo = common::mcp(
        &triage,
        None,
        "tools/call",
        json!({"name": "system_find_tools", "arguments": {"query": "ticket details"}}),
    )
    .await;
    assert_eq!(echo["result"]["isError"], json!(false), "{echo}");
    // The combined endpoint is unchanged, and an unknown name is still a 404.
    let all = common::mcp(
        &format!("{}/mcp", server.base),
        None,
        "tools/list",
        json!({}),
    )
    .await;
    assert!(all["result"]["tools"].as_array().expect("tools").len() > 20);
    let missing = reqwest::Client::new()
        .post(format!("{}/mcp/nowhere", server.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status().as_u16(), 404);
}

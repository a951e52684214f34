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
            exclude: vec![
                "support.get_tickets".into(),
                "support.get_ticket_changes".into(),
            ],
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
    assert!(
        listed_names(&all).contains(&"support_create_ticket".to_string()),
        "{all}"
    );
    let missing = reqwest::Client::new()
        .post(format!("{}/mcp/nowhere", server.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status().as_u16(), 404);
}

fn listed_names(listed: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = listed["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|tool| tool["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_lean_combined_endpoint_lists_featured_tools_and_still_calls_every_tool() {
    let server = start(|config| {
        config.toolkits = vec!["system".into(), "support".into()];
    })
    .await;
    let combined = format!("{}/mcp", server.base);
    let lean = listed_names(&common::mcp(&combined, None, "tools/list", json!({})).await);
    assert_eq!(
        lean,
        [
            "support_create_ticket",
            "support_get_analytics",
            "support_get_customer_context",
            "support_get_customers",
            "support_get_ticket_details",
            "support_get_tickets",
            "support_search_knowledge_base",
            "support_update_ticket",
            "system_call_tool",
            "system_echo",
            "system_find_tools",
            "system_get_health",
            "system_list_toolkits",
        ]
    );
    // A tool left off the list is called by its name on the same endpoint, and found.
    let created = common::mcp(
        &combined,
        None,
        "tools/call",
        json!({"name": "support_create_customer", "arguments": {
            "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}}),
    )
    .await;
    assert_eq!(created["result"]["isError"], json!(false), "{created}");
    let found = common::mcp(
        &combined,
        None,
        "tools/call",
        json!({"name": "system_find_tools", "arguments": {"query": "register a new customer", "limit": 3}}),
    )
    .await;
    assert!(
        found.to_string().contains("support_create_customer"),
        "{found}"
    );
    // A toolkit's own endpoint lists all of its tools.
    let support = listed_names(
        &common::mcp(
            &format!("{}/mcp/support", server.base),
            None,
            "tools/list",
            json!({}),
        )
        .await,
    );
    assert!(support.len() > 15, "{support:?}");
    assert!(support.contains(&"create_customer".to_string()));

    let full = start(|config| {
        config.toolkits = vec!["system".into(), "support".into()];
        config.mcp_catalog = tideway_core::CatalogListing::Full;
    })
    .await;
    let every = listed_names(
        &common::mcp(&format!("{}/mcp", full.base), None, "tools/list", json!({})).await,
    );
    assert_eq!(every.len(), support.len() + 5, "{every:?}");
    assert!(every.contains(&"system_echo".to_string()));
}

/// Plain-language requests, as a person or a model phrases them, and the tool each
/// should find. The words are deliberately not the tools' own.
const REQUESTS: &[(&str, &str)] = &[
    ("close a ticket", "support_update_ticket"),
    (
        "how many tickets were opened last week",
        "support_get_analytics",
    ),
    ("search the knowledge base", "support_search_knowledge_base"),
    ("add a comment to a ticket", "support_add_ticket_comment"),
    (
        "open a new support ticket for a customer",
        "support_create_ticket",
    ),
    ("register a new customer", "support_create_customer"),
    (
        "change a customer's email address",
        "support_update_customer",
    ),
    ("look up a customer by id", "support_get_customer_by_id"),
    (
        "everything we know about a customer",
        "support_get_customer_context",
    ),
    ("list the open tickets", "support_get_tickets"),
    (
        "show the full history of a ticket",
        "support_get_ticket_details",
    ),
    (
        "log a phone call with a customer",
        "support_save_interaction",
    ),
    ("write a help article", "support_create_article"),
    ("rate how helpful an article was", "support_rate_article"),
    (
        "run a read-only SQL query on a database",
        "database_query_database",
    ),
    ("connect a postgres database", "database_connect_postgres"),
    (
        "what tables does the database have",
        "database_list_source_tables",
    ),
    (
        "describe the columns of a database table",
        "database_describe_table",
    ),
    ("explain the query plan", "database_explain_query"),
    (
        "insert or update rows in a database",
        "database_execute_statement",
    ),
    (
        "copy a database table into the lakehouse",
        "lakehouse_sync_table_to_bronze",
    ),
    (
        "upload a CSV file to the lakehouse",
        "lakehouse_upload_file",
    ),
    ("query the lakehouse with SQL", "lakehouse_query_sql"),
    (
        "clean raw data into silver",
        "lakehouse_transform_to_silver",
    ),
    (
        "build an aggregated gold table",
        "lakehouse_create_gold_table",
    ),
    (
        "where did this table's data come from",
        "lakehouse_table_lineage",
    ),
    (
        "earlier versions of a lakehouse table",
        "lakehouse_table_history",
    ),
    (
        "fill in a prompt template with variables",
        "prompts_render_prompt",
    ),
    (
        "create a new prompt template",
        "prompts_create_prompt_template",
    ),
    (
        "roll back a prompt to an older version",
        "prompts_restore_prompt_version",
    ),
    (
        "ask the language model to write a summary",
        "models_generate",
    ),
    ("configure an LLM provider", "models_set_model_provider"),
    ("start a workflow", "workflows_start_workflow"),
    (
        "check the status of a workflow run",
        "workflows_get_execution",
    ),
    ("stop a running workflow", "workflows_cancel_execution"),
    ("approve a pending step", "workflows_approve_step"),
    ("read a text file", "files_read_text_file"),
    ("save text to a file", "files_write_file"),
    ("find files by name", "files_search_files"),
    ("search inside files for a word", "files_grep_files"),
    ("make a new folder", "files_create_directory"),
    ("rename a file", "files_move_file"),
    ("remove a file", "files_delete_file"),
    ("replace some text in a file", "files_edit_file"),
    ("download a web page as markdown", "fetch_fetch"),
    ("call a REST API with a POST request", "fetch_http_request"),
    ("is the server healthy", "system_get_health"),
    (
        "send a notification to the team's slack channel",
        "automation_notify",
    ),
    (
        "run this workflow every weekday morning on a schedule",
        "automation_create_schedule",
    ),
    ("which toolkits are enabled", "system_list_toolkits"),
];

#[tokio::test]
async fn find_tools_puts_the_right_tool_in_the_top_three_for_plain_requests() {
    let server = start(|config| {
        config.toolkits = [
            "system",
            "support",
            "database",
            "lakehouse",
            "prompts",
            "models",
            "workflows",
            "automation",
            "files",
            "fetch",
        ]
        .map(String::from)
        .to_vec();
    })
    .await;
    let hub = &server.app.hub;
    let mut misses = Vec::new();
    for (query, expected) in REQUESTS {
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
        let names: Vec<String> = structured["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .filter_map(|tool| tool["name"].as_str().map(str::to_string))
            .collect();
        if !names.iter().any(|name| name == expected) {
            misses.push(format!("{query:?} wants {expected}, got {names:?}"));
        }
    }
    assert!(REQUESTS.len() >= 40);
    // At least 90% of the requests find their tool in the top three.
    assert!(
        misses.len() * 10 <= REQUESTS.len(),
        "{} of {} missed:\n{}",
        misses.len(),
        REQUESTS.len(),
        misses.join("\n")
    );
}

#[tokio::test]
async fn no_two_toolkits_offer_the_same_prompt() {
    let toolkits = ["support", "database", "lakehouse", "prompts", "models"];
    let server = start(|config| {
        config.toolkits = toolkits.map(String::from).to_vec();
    })
    .await;
    let listed = common::mcp(
        &format!("{}/mcp", server.base),
        None,
        "prompts/list",
        json!({}),
    )
    .await;
    let names: Vec<&str> = listed["result"]["prompts"]
        .as_array()
        .expect("prompts")
        .iter()
        .filter_map(|prompt| prompt["name"].as_str())
        .collect();
    // The prompts toolkit's built-in library is among them.
    assert!(names.contains(&"prompts_support_reply"), "{names:?}");
    let mut seen = std::collections::HashMap::new();
    for name in &names {
        let bare = toolkits
            .iter()
            .find_map(|toolkit| name.strip_prefix(&format!("{toolkit}_")))
            .unwrap_or(name);
        if let Some(other) = seen.insert(bare.to_string(), *name) {
            panic!("{other} and {name} are the same prompt");
        }
    }
}

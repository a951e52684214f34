//! Lambda functions picked by pattern become tools of their own, per tenant and
//! account, against moto's server: listed with their descriptions, called with the
//! arguments as the event, invisible to another tenant, refused to a viewer, and
//! taken away with the pick or the account.

use http::Method;
use serde_json::json;
use tideway_core::{HubError, context::Role};

use super::{
    Fixture,
    aws::{account, lambda_emulator, setup_in},
    loopback_config, tenant_ctx, unique,
};

#[tokio::test]
async fn picked_lambda_functions_become_tools_of_their_own() {
    // Its own region, so results another test queues for us-east-1 never reach it.
    let region = "eu-west-2";
    let Some((endpoint, role)) = lambda_emulator(region).await else {
        return;
    };
    let stem = unique("fnt");
    for (suffix, description, tags) in [
        ("score-feedback", "Scores a customer's feedback", json!({})),
        (
            "route-ticket",
            "",
            json!({"mcp-tool": "Routes a ticket to the right team"}),
        ),
        ("internal-cleanup", "Not for agents", json!({})),
    ] {
        let created = setup_in(
            region,
            &endpoint,
            "lambda",
            Method::POST,
            "/2015-03-31/functions",
            &[("content-type", "application/json")],
            json!({
                "FunctionName": format!("{stem}-{suffix}"),
                "Runtime": "python3.12",
                "Role": &role,
                "Handler": "main.handle",
                "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
                "Description": description,
                "Tags": tags,
            })
            .to_string()
            .into_bytes(),
        )
        .await;
        assert_eq!(
            created["FunctionName"],
            format!("{stem}-{suffix}"),
            "{created}"
        );
    }
    let tool_stem = stem.replace('-', "_");
    let score = format!("{tool_stem}_score_feedback");
    let route = format!("{tool_stem}_route_ticket");

    let fixture = Fixture::new(loopback_config()).await;
    let admin = tenant_ctx("acme", Role::Admin);
    let mut picking = account(&endpoint);
    picking["region"] = json!(region);
    picking["functions"] = json!([format!("{stem}-*")]);
    picking["function_tools"] = json!([format!("{stem}-score-*")]);
    picking["function_tool_tag"] = json!("mcp-tool");
    let stored = fixture
        .try_call(
            &admin,
            "set_account",
            json!({"name": "lambda", "account": picking}),
        )
        .await
        .expect("stored");
    assert_eq!(stored["function_tools"], json!([route, score]), "{stored}");
    assert!(stored["function_tools_error"].is_null(), "{stored}");

    // The functions are tools on /mcp under their own names, described by them.
    let operator = tenant_ctx("acme", Role::Operator);
    let listed = fixture
        .hub
        .list_tools(&tideway_core::Scope::All, &operator.principal);
    let tool = |name: &str| listed.iter().find(|tool| tool.name == name).cloned();
    let score_tool = tool(&score).expect("the picked-by-name function is a tool");
    assert!(
        score_tool
            .description
            .as_deref()
            .is_some_and(|text| text.contains("Scores a customer's feedback")),
        "{score_tool:?}"
    );
    let route_tool = tool(&route).expect("the tagged function is a tool");
    assert!(
        route_tool
            .description
            .as_deref()
            .is_some_and(|text| text.contains("Routes a ticket to the right team")),
        "{route_tool:?}"
    );
    assert!(tool(&format!("{tool_stem}_internal_cleanup")).is_none());
    assert_eq!(
        route_tool
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint),
        Some(false)
    );

    // A call runs the function with the arguments as its event.
    let (toolkit, name) = fixture
        .hub
        .resolve_tool(&tideway_core::Scope::All, &score)
        .expect("resolved");
    let event = json!({"ticket": 1043, "text": "slow delivery"});
    let result = fixture
        .hub
        .call(
            &operator,
            &toolkit,
            &name,
            Some(serde_json::from_value(event.clone()).expect("object")),
        )
        .await
        .expect("called");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let answer = result.structured_content.expect("structured");
    assert_eq!(answer["payload"], event, "{answer}");
    assert_eq!(answer["function_name"], format!("{stem}-score-feedback"));

    // Another tenant neither sees nor calls them; a viewer may not run them.
    let other = tenant_ctx("globex", Role::Admin);
    let theirs = fixture
        .hub
        .list_tools(&tideway_core::Scope::All, &other.principal);
    assert!(theirs.iter().all(|tool| tool.name != score.as_str()));
    let refused = fixture
        .hub
        .call(&other, &toolkit, &name, None)
        .await
        .expect_err("another tenant's toolkit");
    assert!(matches!(refused, HubError::UnknownToolkit(_)), "{refused}");
    // By its `/mcp` name it is a name nothing serves, which does not spell out
    // the owner's toolkit.
    let refused = fixture
        .hub
        .call_in_scope(&other, &tideway_core::Scope::All, &score, None)
        .await
        .expect_err("another tenant's tool by its name");
    assert!(
        matches!(&refused, HubError::UnknownTool { tool, .. } if *tool == score),
        "{refused}"
    );
    assert!(!refused.to_string().contains("acme"), "{refused}");
    let viewer = tenant_ctx("acme", Role::Viewer);
    let refused = fixture
        .hub
        .call(&viewer, &toolkit, &name, None)
        .await
        .expect_err("a viewer");
    assert!(matches!(refused, HubError::Forbidden(_)), "{refused}");

    // Picking nothing takes the toolkit away; so does deleting the account.
    let mut plain = account(&endpoint);
    plain["region"] = json!(region);
    let stored = fixture
        .try_call(
            &admin,
            "set_account",
            json!({"name": "lambda", "account": plain}),
        )
        .await
        .expect("stored");
    assert_eq!(stored["function_tools"], json!([]));
    assert!(!fixture.hub.has_toolkit(&toolkit));
    let mut again = account(&endpoint);
    again["region"] = json!(region);
    again["function_tools"] = json!([format!("{stem}-score-*")]);
    fixture
        .try_call(
            &admin,
            "set_account",
            json!({"name": "lambda", "account": again}),
        )
        .await
        .expect("stored");
    assert!(fixture.hub.has_toolkit(&toolkit));
    fixture
        .try_call(&admin, "delete_account", json!({"name": "lambda"}))
        .await
        .expect("deleted");
    assert!(!fixture.hub.has_toolkit(&toolkit));
}

//! MCP tasks (the 2026-07-28 tasks extension) over real HTTP: a slow tool runs as a
//! task for a client that declares the extension and in the request for one that
//! does not; `tasks/get` reports it to its end, a tool's failure completes with
//! `isError` while a failure inside the server fails the task; cancel, updates, unknown ids,
//! a tool that runs only as a task, and a task read back by a server started again
//! on the same store; a task whose tool asks the client for input waits for it
//! (`input_required`) until `tasks/update` answers, one request at a time if need be.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::{mcp, mcp_declaring};

fn tasks() -> Value {
    json!({"extensions": {"io.modelcontextprotocol/tasks": {}}})
}

async fn call(url: &str, tool: &str, arguments: Value, capabilities: Value) -> Value {
    mcp_declaring(
        url,
        None,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
        capabilities,
    )
    .await
}

async fn get(url: &str, task_id: &str) -> Value {
    mcp_declaring(url, None, "tasks/get", json!({"taskId": task_id}), tasks()).await
}

/// Polls the task until it is no longer working; panics after 20 s.
async fn ended(url: &str, task_id: &str) -> Value {
    for _ in 0..400 {
        let task = get(url, task_id).await;
        if task["result"]["status"] != "working" {
            return task["result"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {task_id} did not end");
}

fn started(answer: &Value) -> String {
    assert_eq!(answer["result"]["resultType"], "task", "{answer}");
    assert!(answer["result"].get("result").is_none(), "{answer}");
    answer["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("no taskId: {answer}"))
        .to_string()
}

#[tokio::test]
async fn slow_tools_run_as_tasks_for_clients_that_take_them() {
    let first = common::start(|config| {
        config.toolkits = vec!["conformance".into(), "workflows".into()];
    })
    .await;
    let url = format!("{}/mcp/conformance", first.base);

    let discovered = mcp(&url, None, "server/discover", json!({})).await;
    assert!(
        discovered["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/tasks"]
            .is_object(),
        "{discovered}"
    );

    // A quick tool never becomes a task; a slow one does, only for a declaring client.
    let greeted = call(&url, "greet", json!({"name": "Ada"}), tasks()).await;
    assert_eq!(greeted["result"]["content"][0]["text"], "Hello, Ada!");
    assert!(greeted["result"].get("taskId").is_none(), "{greeted}");
    let direct = call(
        &url,
        "slow_compute",
        json!({"seconds": 0, "label": "direct"}),
        json!({}),
    )
    .await;
    assert!(direct["result"].get("taskId").is_none(), "{direct}");
    assert!(
        direct["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|text| text.contains("direct")),
        "{direct}"
    );
    let created = call(
        &url,
        "slow_compute",
        json!({"seconds": 0.3, "label": "polled"}),
        tasks(),
    )
    .await;
    let task_id = started(&created);
    // Durably created: readable at once.
    let first_look = get(&url, &task_id).await;
    assert_eq!(
        first_look["result"]["taskId"],
        task_id.as_str(),
        "{first_look}"
    );
    let done = ended(&url, &task_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        done["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|text| text.contains("polled")),
        "{done}"
    );

    // Arguments that do not fit are refused before any task, as a tool error the
    // model can read.
    let unfit = call(&url, "slow_compute", json!({"seconds": -1}), tasks()).await;
    assert!(unfit["result"].get("taskId").is_none(), "{unfit}");
    assert_eq!(unfit["result"]["isError"], true, "{unfit}");
    assert!(
        unfit["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|text| text.contains("seconds")),
        "{unfit}"
    );

    // A tool's failure completes with isError; a failure inside the server fails.
    let refused = call(&url, "failing_job", json!({}), json!({})).await;
    assert_eq!(refused["error"]["code"], -32021, "{refused}");
    let failing = started(&call(&url, "failing_job", json!({}), tasks()).await);
    let failed_tool = ended(&url, &failing).await;
    assert_eq!(failed_tool["status"], "completed", "{failed_tool}");
    assert_eq!(failed_tool["result"]["isError"], true, "{failed_tool}");
    let broken = started(&call(&url, "protocol_error_job", json!({}), tasks()).await);
    let failed = ended(&url, &broken).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], -32603, "{failed}");
    assert!(failed.get("result").is_none(), "{failed}");

    // Cancel: an empty acknowledgement, then the task is cancelled; again, the same.
    let long = started(
        &call(
            &url,
            "slow_compute",
            json!({"seconds": 60, "label": "cancelled"}),
            tasks(),
        )
        .await,
    );
    for _ in 0..2 {
        let ack = mcp_declaring(&url, None, "tasks/cancel", json!({"taskId": long}), tasks()).await;
        assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
        assert!(ack["result"].get("status").is_none(), "{ack}");
    }
    assert_eq!(ended(&url, &long).await["status"], "cancelled");

    // An update to a task that waits for no input is acknowledged and changes
    // nothing; an answer that is not an object is refused, naming its key.
    let update = |answers: Value| {
        let url = url.clone();
        let task_id = task_id.clone();
        async move {
            mcp_declaring(
                &url,
                None,
                "tasks/update",
                json!({"taskId": task_id, "inputResponses": answers}),
                tasks(),
            )
            .await
        }
    };
    let ignored = update(json!({"user_name": {"action": "accept"}})).await;
    assert_eq!(ignored["result"]["resultType"], "complete", "{ignored}");
    assert_eq!(get(&url, &task_id).await["result"]["status"], "completed");
    let malformed = update(json!({"user_name": 7})).await;
    assert_eq!(malformed["error"]["code"], -32602, "{malformed}");
    assert!(
        malformed["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("user_name")),
        "{malformed}"
    );

    // Unknown ids, and a client that did not declare the extension.
    let unknown = get(&url, "no-such-task").await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    let undeclared = mcp(&url, None, "tasks/get", json!({"taskId": task_id})).await;
    assert_eq!(undeclared["error"]["code"], -32021, "{undeclared}");

    // A server started again on the same store answers for the task.
    let data_dir = first.app.config.data_dir.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let second = common::start_in(dir, data_dir, |config| {
        config.toolkits = vec!["conformance".into(), "workflows".into()];
    })
    .await;
    let again = get(&format!("{}/mcp/conformance", second.base), &task_id).await;
    assert_eq!(again["result"]["status"], "completed", "{again}");
    assert_eq!(again["result"]["result"], done["result"], "{again}");
}

#[tokio::test]
async fn without_the_workflows_engine_no_task_is_offered() {
    let running = common::start(|config| {
        config.toolkits = vec!["conformance".into()];
    })
    .await;
    let url = format!("{}/mcp/conformance", running.base);
    let discovered = mcp(&url, None, "server/discover", json!({})).await;
    assert!(
        discovered["result"]["capabilities"]["extensions"]
            .get("io.modelcontextprotocol/tasks")
            .is_none(),
        "{discovered}"
    );
    // A tool that may run as a task is answered in the request.
    let direct = call(
        &url,
        "slow_compute",
        json!({"seconds": 0, "label": "plain"}),
        json!({}),
    )
    .await;
    assert!(direct["result"]["content"].is_array(), "{direct}");
}

fn tasks_and_elicitation() -> Value {
    json!({"elicitation": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}})
}

/// Polls the task until it is neither working nor `except`; panics after 20 s.
async fn settled(url: &str, task_id: &str, except: &str) -> Value {
    for _ in 0..400 {
        let task = get(url, task_id).await;
        let status = &task["result"]["status"];
        if status != "working" && status != except {
            return task["result"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {task_id} did not move on");
}

async fn update(url: &str, task_id: &str, answers: Value) -> Value {
    mcp_declaring(
        url,
        None,
        "tasks/update",
        json!({"taskId": task_id, "inputResponses": answers}),
        tasks(),
    )
    .await
}

#[tokio::test]
async fn a_task_whose_tool_asks_waits_for_the_answers() {
    let server = common::start(|config| {
        config.toolkits = vec!["conformance".into(), "workflows".into()];
    })
    .await;
    let url = format!("{}/mcp/conformance", server.base);

    // One question: the task waits with it, then completes with the answer.
    let asking = started(
        &call(
            &url,
            "confirm_delete",
            json!({"filename": "a.txt"}),
            tasks_and_elicitation(),
        )
        .await,
    );
    let waiting = settled(&url, &asking, "").await;
    assert_eq!(waiting["status"], "input_required", "{waiting}");
    assert_eq!(
        waiting["inputRequests"]["confirm"]["method"],
        "elicitation/create"
    );
    assert_eq!(
        waiting["inputRequests"]["confirm"]["params"]["message"],
        "Delete a.txt?"
    );
    let ack = update(
        &url,
        &asking,
        json!({"confirm": {"action": "accept", "content": {"confirm": true}}}),
    )
    .await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    assert!(ack["result"].get("status").is_none(), "{ack}");
    let done = settled(&url, &asking, "input_required").await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "Deleted a.txt");

    // Two questions at once, answered one at a time: the task waits until both are.
    let both = started(&call(&url, "multi_input", json!({}), tasks_and_elicitation()).await);
    let waiting = settled(&url, &both, "").await;
    let keys = |task: &Value| -> Vec<String> {
        task["inputRequests"]
            .as_object()
            .map(|requests| requests.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&waiting), vec!["first", "second"], "{waiting}");
    let answer =
        |name: &str| json!({"action": "accept", "content": {"name": name, "confirm": true}});
    let partial = update(
        &url,
        &both,
        json!({"first": answer("one"), "stray": answer("x")}),
    )
    .await;
    assert_eq!(partial["result"]["resultType"], "complete", "{partial}");
    let still = get(&url, &both).await["result"].clone();
    assert_eq!(still["status"], "input_required", "{still}");
    assert_eq!(keys(&still), vec!["second"], "{still}");
    update(&url, &both, json!({"second": answer("two")})).await;
    let done = settled(&url, &both, "input_required").await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "one and two");

    // A client that cannot answer is not asked: the tool says so.
    let unasked = started(
        &call(
            &url,
            "confirm_delete",
            json!({"filename": "b.txt"}),
            tasks(),
        )
        .await,
    );
    let refused = ended(&url, &unasked).await;
    assert_eq!(refused["status"], "completed", "{refused}");
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert!(
        refused["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|text| text.contains("elicitation")),
        "{refused}"
    );

    // Without the extension the same tool asks in the request (an input-required
    // result), and the answer on the next call completes it.
    let elicitation = json!({"elicitation": {}});
    let asked = call(
        &url,
        "confirm_delete",
        json!({"filename": "c.txt"}),
        elicitation.clone(),
    )
    .await;
    assert_eq!(asked["result"]["resultType"], "input_required", "{asked}");
    let state = asked["result"]["requestState"].clone();
    let answered = mcp_declaring(
        &url,
        None,
        "tools/call",
        json!({"name": "confirm_delete", "arguments": {"filename": "c.txt"},
               "inputResponses": {"confirm": {"action": "accept", "content": {"confirm": false}}},
               "requestState": state}),
        elicitation,
    )
    .await;
    assert_eq!(
        answered["result"]["content"][0]["text"], "Kept c.txt",
        "{answered}"
    );
}

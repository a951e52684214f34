//! The AI-assisted tools, resources and prompts: profiles computed from the data
//! with and without a model, SQL a model writes planned before it is returned (a bad
//! first answer corrected once), results summarised, `table://` resources for the
//! caller's tables only, and prompts carrying the real schema. The model is the
//! calling client's, through sampling: a client here that answers from a script.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway_core::{
    CallContext, ClientChannel, Hub, HubError, Scope,
    context::{LogLevel, Role},
    mcp::JsonObject,
};

use super::{b64, call, ctx, hub};

/// A client whose model answers from a script, and which keeps what it was asked.
#[derive(Default)]
struct ScriptedModel {
    answers: Mutex<Vec<String>>,
    asked: Mutex<Vec<String>>,
}

#[async_trait]
impl ClientChannel for ScriptedModel {
    async fn progress(&self, _: f64, _: Option<f64>, _: Option<String>) {}
    async fn log(&self, _: LogLevel, _: &str, _: Value) {}
    async fn request(&self, method: &str, params: JsonObject) -> Result<Value, HubError> {
        assert_eq!(method, "sampling/createMessage");
        let text = params["messages"][0]["content"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.asked.lock().expect("lock").push(text);
        let mut answers = self.answers.lock().expect("lock");
        let answer = if answers.is_empty() {
            "No more answers.".to_string()
        } else {
            answers.remove(0)
        };
        Ok(
            json!({"role": "assistant", "content": {"type": "text", "text": answer}, "model": "scripted", "stopReason": "endTurn"}),
        )
    }
}

fn with_model(answers: &[&str]) -> (CallContext, Arc<ScriptedModel>) {
    let model = Arc::new(ScriptedModel {
        answers: Mutex::new(answers.iter().map(|a| a.to_string()).collect()),
        asked: Mutex::new(Vec::new()),
    });
    (
        ctx("acme", Role::Operator).with_client(model.clone()),
        model,
    )
}

async fn upload(hub: &Hub, ctx: &CallContext, name: &str, csv: &str) {
    call(
        hub,
        ctx,
        "upload_file",
        json!({"file_content": b64(csv.as_bytes()), "file_name": format!("{name}.csv"), "dataset_name": name}),
    )
    .await
    .expect("upload");
}

const CUSTOMERS: &str = "id,name,email,country,notes\n1,Ada,ada@example.com,NL,\n2,Grace,grace@example.com,NL,\n3,Linus,linus@example.com,NL,vip\n4,Ken,ken@example.com,NL,\n";
const ORDERS: &str = "id,customer_id,amount\n10,1,5.5\n11,1,4.5\n12,3,10\n";

#[tokio::test]
async fn tables_are_profiled_and_a_model_adds_its_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, _store) = hub(dir.path(), |_| {}).await;
    let operator = ctx("acme", Role::Operator);
    upload(&hub, &operator, "customers", CUSTOMERS).await;
    upload(&hub, &operator, "orders", ORDERS).await;

    // No model: the profile alone, and why there is no prose.
    let plain = call(&hub, &operator, "analyze_schema", json!({}))
        .await
        .expect("profile");
    assert!(plain["analysis"].is_null());
    assert!(
        plain["model_unavailable"]
            .as_str()
            .is_some_and(|why| !why.is_empty())
    );
    let customers = plain["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["table"] == "bronze.customers")
        .expect("customers");
    let column = |name: &str| {
        customers["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .expect("column")
    };
    assert_eq!(column("id")["likely_key"], true);
    assert_eq!(column("id")["identifier"], true);
    assert!(column("email")["personal_data"].is_string());
    assert!(column("name")["personal_data"].is_string());
    assert_eq!(column("country")["constant"], true);
    assert_eq!(column("notes")["null_heavy"], true);
    assert!(column("country")["personal_data"].is_null());
    assert_eq!(
        plain["join_candidates"],
        json!([{"left": "bronze.customers.id", "right": "bronze.orders.customer_id", "reason": "customer_id names a row of bronze.customers"}])
    );

    // With the client's model: its reading comes back, and it was shown the profile.
    let (with, model) = with_model(&["Customers are keyed by id; e-mail is personal data."]);
    let read = call(
        &hub,
        &with,
        "analyze_schema",
        json!({"tables": "customers, orders"}),
    )
    .await
    .expect("analysis");
    assert_eq!(
        read["analysis"],
        "Customers are keyed by id; e-mail is personal data."
    );
    let asked = model.asked.lock().expect("lock")[0].clone();
    assert!(
        asked.contains("customer_id") && asked.contains("likely_key"),
        "{asked}"
    );
    let missing = call(
        &hub,
        &operator,
        "analyze_schema",
        json!({"tables": ["nope"]}),
    )
    .await
    .expect_err("no such table");
    assert_eq!(missing.kind(), "not-found");
}

#[tokio::test]
async fn suggested_sql_is_planned_before_it_is_returned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, _store) = hub(dir.path(), |_| {}).await;
    let operator = ctx("acme", Role::Operator);
    upload(&hub, &operator, "customers", CUSTOMERS).await;
    upload(&hub, &operator, "orders", ORDERS).await;

    // Without a model: a clear error that carries the schema to write from.
    let unavailable = call(
        &hub,
        &operator,
        "suggest_query",
        json!({"question": "revenue per customer"}),
    )
    .await
    .expect_err("no model");
    assert_eq!(unavailable.kind(), "unavailable");
    assert!(
        unavailable.to_string().contains("Table bronze.orders"),
        "{unavailable}"
    );

    let (with, model) = with_model(&[
        "```sql\nSELECT c.name, sum(o.amount) AS revenue FROM bronze.orders o JOIN bronze.customers c ON c.id = o.customer_id GROUP BY c.name;\n```",
    ]);
    let suggested = call(
        &hub,
        &with,
        "suggest_query",
        json!({"question": "revenue per customer", "tables": ["orders", "customers"]}),
    )
    .await
    .expect("suggestion");
    assert_eq!(suggested["attempts"], 1);
    assert!(
        suggested["sql"]
            .as_str()
            .expect("sql")
            .starts_with("SELECT c.name")
    );
    assert_eq!(suggested["columns"][1]["name"], "revenue");
    assert!(model.asked.lock().expect("lock")[0].contains("customer_id"));

    // A first answer that does not plan is sent back with the error, once.
    let (with, model) = with_model(&[
        "SELECT nonexistent FROM bronze.orders",
        "```sql\nSELECT count(*) AS n FROM bronze.orders\n```",
    ]);
    let corrected = call(
        &hub,
        &with,
        "suggest_query",
        json!({"question": "how many orders"}),
    )
    .await
    .expect("corrected");
    assert_eq!(corrected["attempts"], 2);
    assert_eq!(corrected["sql"], "SELECT count(*) AS n FROM bronze.orders");
    let second = model.asked.lock().expect("lock")[1].clone();
    assert!(
        second.contains("nonexistent") && second.contains("does not plan"),
        "{second}"
    );
    // Two answers that do not plan: refused, nothing returned as if it were good.
    let (with, _) = with_model(&["DROP TABLE bronze.orders", "SELECT nope"]);
    let refused = call(
        &hub,
        &with,
        "suggest_query",
        json!({"question": "delete it all"}),
    )
    .await
    .expect_err("never plans");
    assert_eq!(refused.kind(), "invalid-arguments");
}

#[tokio::test]
async fn results_are_explained_with_statistics_and_prose_when_a_model_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, _store) = hub(dir.path(), |_| {}).await;
    let operator = ctx("acme", Role::Operator);
    upload(&hub, &operator, "orders", ORDERS).await;
    let sql = "SELECT customer_id, sum(amount) AS total FROM bronze.orders GROUP BY customer_id ORDER BY customer_id";
    let plain = call(&hub, &operator, "explain_data", json!({"sql": sql}))
        .await
        .expect("explained");
    assert_eq!(plain["row_count"], 2);
    assert_eq!(plain["statistics"]["total"]["sum"], 20.0);
    assert_eq!(plain["statistics"]["total"]["max"], 10.0);
    assert_eq!(plain["statistics"]["customer_id"]["min"], 1.0);
    assert!(plain["summary"].is_null());
    assert!(plain["model_unavailable"].is_string());
    let (with, model) = with_model(&["Customer 3 spent the most."]);
    let told = call(
        &hub,
        &with,
        "explain_data",
        json!({"sql": sql, "question": "who spends most?"}),
    )
    .await
    .expect("explained");
    assert_eq!(told["summary"], "Customer 3 spent the most.");
    assert!(model.asked.lock().expect("lock")[0].contains("who spends most?"));
    let refused = call(
        &hub,
        &operator,
        "explain_data",
        json!({"sql": "DELETE FROM bronze.orders"}),
    )
    .await
    .expect_err("not a read");
    assert_eq!(refused.kind(), "invalid-arguments");
}

#[tokio::test]
async fn tables_are_resources_and_prompts_carry_their_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, _store) = hub(dir.path(), |_| {}).await;
    let operator = ctx("acme", Role::Operator);
    upload(&hub, &operator, "orders", ORDERS).await;
    let scope = Scope::Toolkit("lakehouse".into());
    let listed = hub
        .list_resources(&operator, &scope)
        .await
        .expect("resources");
    let uris: Vec<String> = listed.iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(
        uris,
        [
            "table://tenant_acme/bronze/orders/schema",
            "table://tenant_acme/bronze/orders/preview"
        ]
    );
    let schema = hub
        .read_resource(
            &operator,
            &scope,
            "table://tenant_acme/bronze/orders/schema",
        )
        .await
        .expect("schema");
    let text = serde_json::to_value(&schema[0]).expect("json")["text"]
        .as_str()
        .expect("text")
        .to_string();
    let schema: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(schema["columns"][1]["name"], "customer_id");
    let preview = hub
        .read_resource(
            &operator,
            &scope,
            "table://tenant_acme/bronze/orders/preview",
        )
        .await
        .expect("preview");
    let preview: Value = serde_json::from_str(
        serde_json::to_value(&preview[0]).expect("json")["text"]
            .as_str()
            .expect("text"),
    )
    .expect("json");
    assert_eq!(preview["rows"].as_array().expect("rows").len(), 3);
    for uri in [
        "table://tenant_globex/bronze/orders/schema",
        "table://tenant_acme/bronze/missing/schema",
        "table://tenant_acme/platinum/orders/schema",
        "table://tenant_acme/bronze/orders/secrets",
    ] {
        let error = hub
            .read_resource(&operator, &scope, uri)
            .await
            .expect_err(uri);
        assert_eq!(error.kind(), "resource-not-found", "{uri}");
    }
    let globex = ctx("globex", Role::Operator);
    assert!(
        hub.list_resources(&globex, &scope)
            .await
            .expect("list")
            .is_empty()
    );

    let prompt = hub
        .get_prompt(
            &operator,
            &scope,
            "generate_query",
            serde_json::from_value(json!({"question": "total per customer", "tables": "orders"}))
                .ok(),
        )
        .await
        .expect("prompt");
    let text = serde_json::to_value(&prompt.messages[0]).expect("json")["content"]["text"]
        .as_str()
        .expect("text")
        .to_string();
    assert!(
        text.contains("Table bronze.orders (3 rows)") && text.contains("customer_id Int64"),
        "{text}"
    );
    assert!(text.contains("total per customer"));
    let analyze = hub
        .get_prompt(&operator, &scope, "analyze_schema", None)
        .await
        .expect("prompt");
    assert!(
        serde_json::to_string(&analyze)
            .expect("json")
            .contains("bronze.orders")
    );
    let no_question = hub
        .get_prompt(&operator, &scope, "generate_query", None)
        .await
        .expect_err("question required");
    assert_eq!(no_question.kind(), "invalid-prompt-arguments");
}

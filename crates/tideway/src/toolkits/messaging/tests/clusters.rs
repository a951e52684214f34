//! Clusters as a tenant's admin keeps them: the SASL password sealed in the store
//! and never shown, restrictions that answer exactly as a missing topic, tenants
//! that never see each other's clusters nor, on a shared one, each other's groups,
//! failures told apart by `test_cluster`, and bad arguments refused with the field
//! they concern.

use serde_json::{Value, json};
use tideway_core::{HubError, context::Role, on_store};

use super::{Broker, Fixture, broker, broker_binary, ctx, free_port, loopback_config, unique};
use crate::toolkits::messaging::settings::{DeclaredCluster, MessagingConfig};

const PASSWORD: &str = "kafka-pw-5d2e9b";

fn field_of(error: &HubError) -> String {
    match error {
        HubError::InvalidArguments { field, .. } => field.clone(),
        other => panic!("expected invalid arguments, got {other:?}"),
    }
}

#[tokio::test]
async fn a_sasl_password_is_sealed_and_never_shown() {
    let Some(bootstrap) = broker() else {
        return;
    };
    for fixture in Fixture::on_each_store(&loopback_config()).await {
        let admin = ctx("acme", Role::Admin);
        fixture
            .try_call(
                &admin,
                "set_cluster",
                json!({"name": "secure", "cluster": {
                    "bootstrap_servers": bootstrap,
                    "security": "sasl_plaintext",
                    "sasl_mechanism": "SCRAM-SHA-256",
                    "username": "agent",
                    "password": PASSWORD,
                }}),
            )
            .await
            .expect("stored");
        let sealed: Option<String> = on_store!(&fixture.store, pool => {
            sqlx::query_scalar("SELECT secret FROM messaging_clusters WHERE tenant_id = 'acme' AND name = 'secure'")
                .fetch_one(pool)
                .await
        })
        .expect("row");
        let sealed = sealed.expect("sealed");
        assert!(
            sealed.starts_with("tw1:") && !sealed.contains(PASSWORD),
            "{sealed}"
        );
        let listed = fixture.call("list_clusters", json!({})).await;
        assert_eq!(listed["clusters"][0]["has_password"], true, "{listed}");
        assert_eq!(listed["clusters"][0]["username"], "agent");
        assert!(!listed.to_string().contains(PASSWORD));
        // The broker offers no SASL: the test fails, and says so without the password.
        let test = fixture
            .call("test_cluster", json!({"cluster": "secure"}))
            .await;
        assert_eq!(test["ok"], false, "{test}");
        assert!(!test.to_string().contains(PASSWORD), "{test}");
        // A viewer may not store a cluster; another tenant sees none of acme's.
        let viewer = fixture
            .refused_for(
                &ctx("acme", Role::Viewer),
                "set_cluster",
                json!({"name": "x", "cluster": {"bootstrap_servers": bootstrap}}),
            )
            .await;
        assert!(matches!(viewer, HubError::Forbidden(_)), "{viewer}");
        let globex = ctx("globex", Role::Admin);
        let theirs = fixture
            .try_call(&globex, "list_clusters", json!({}))
            .await
            .expect("listed");
        assert_eq!(theirs["clusters"], json!([]));
        let named = fixture
            .refused_for(&globex, "list_topics", json!({"cluster": "secure"}))
            .await;
        assert!(matches!(named, HubError::NotFound(_)), "{named}");
        assert!(!named.to_string().contains(&bootstrap), "{named}");
    }
    // The store file of a SQLite store holds no password either.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plain.db");
    let store = tideway_core::Store::open(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("store");
    crate::toolkits::testing::prepare_store(&store, &["acme"]).await;
    let (key, _) = tideway_core::secrets::MasterKey::generate().expect("key");
    let hub = std::sync::Arc::new(tideway_core::Hub::new());
    hub.register(std::sync::Arc::new(
        super::super::MessagingToolkit::new(
            loopback_config(),
            store.clone(),
            std::sync::Arc::new(key),
            std::sync::Arc::new(crate::egress::SystemLookup),
        )
        .expect("toolkit"),
    ))
    .expect("register");
    let arguments = json!({"name": "secure", "cluster": {
        "bootstrap_servers": bootstrap, "security": "sasl_plaintext",
        "username": "agent", "password": PASSWORD}});
    hub.call(
        &ctx("acme", Role::Admin),
        "messaging",
        "set_cluster",
        serde_json::from_value(arguments).ok(),
    )
    .await
    .expect("stored");
    store.close().await;
    for entry in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        let bytes = std::fs::read(entry.path()).expect("file");
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|window| window == PASSWORD.as_bytes()),
            "{} holds the password",
            entry.path().display()
        );
    }
}

#[tokio::test]
async fn a_restricted_topic_answers_as_a_missing_one() {
    let Some(bootstrap) = broker() else {
        return;
    };
    let fixture = Fixture::new(loopback_config())
        .await
        .with_cluster(&bootstrap, json!({}))
        .await;
    let open = fixture.topic("support", 1).await;
    let hidden = fixture.topic("payroll", 1).await;
    // Now restrict acme's cluster to support topics.
    let fixture = fixture
        .with_cluster(&bootstrap, json!({"topics": ["support-*"]}))
        .await;
    let listed = fixture.call("list_topics", json!({})).await;
    let names: Vec<&str> = listed["topics"]
        .as_array()
        .map(|topics| topics.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&open.as_str()), "{listed}");
    assert!(
        !names.iter().any(|name| name.starts_with("payroll")),
        "{listed}"
    );
    let missing = unique("support");
    for tool in ["publish_message", "get_topic_metadata", "peek_messages"] {
        let mut arguments = json!({"topic": hidden});
        if tool == "publish_message" {
            arguments["message"] = json!("x");
        }
        let refused = fixture.refused(tool, arguments.clone()).await;
        arguments["topic"] = json!(missing);
        let absent = fixture.refused(tool, arguments).await;
        assert!(
            matches!(refused, HubError::NotFound(_)),
            "{tool}: {refused}"
        );
        assert_eq!(
            refused.to_string().replace(&hidden, "T"),
            absent.to_string().replace(&missing, "T"),
            "{tool}: a restricted topic reads as a missing one"
        );
    }
    // Publishing to a missing topic does not create it.
    let meta = fixture
        .refused("get_topic_metadata", json!({"topic": missing}))
        .await;
    assert!(matches!(meta, HubError::NotFound(_)), "{meta}");
}

#[tokio::test]
async fn a_deleted_topic_is_neither_published_to_nor_made_again() {
    let Some(bootstrap) = broker() else {
        return;
    };
    let fixture = Fixture::new(loopback_config())
        .await
        .with_cluster(&bootstrap, json!({}))
        .await;
    let topic = fixture.topic("short-lived", 1).await;
    for _ in 0..2 {
        fixture
            .call("publish_message", json!({"topic": topic, "message": "x"}))
            .await;
    }
    fixture
        .try_call(
            &ctx("acme", Role::Admin),
            "delete_topic",
            json!({"topic": topic}),
        )
        .await
        .expect("deleted");
    // Just published to, yet refused at once: deleting forgets that it existed.
    let refused = fixture
        .refused("publish_message", json!({"topic": topic, "message": "x"}))
        .await;
    assert!(matches!(refused, HubError::NotFound(_)), "{refused}");
    let meta = fixture
        .refused("get_topic_metadata", json!({"topic": topic}))
        .await;
    assert!(
        matches!(meta, HubError::NotFound(_)),
        "the publish did not make it again: {meta}"
    );
}

#[tokio::test]
async fn tenants_sharing_a_cluster_see_and_move_only_their_own_groups() {
    let Some(bootstrap) = broker() else {
        return;
    };
    let mut config = loopback_config();
    config.clusters.insert(
        "shared".into(),
        DeclaredCluster {
            groups: vec!["{tenant}-*".into()],
            ..DeclaredCluster::plaintext(&["acme", "globex"], &bootstrap)
        },
    );
    let fixture = Fixture::new(config).await;
    let acme = ctx("acme", Role::Operator);
    let globex = ctx("globex", Role::Operator);
    let clusters = fixture.call("list_clusters", json!({})).await;
    assert_eq!(
        clusters["clusters"][0]["groups"],
        json!(["acme-*"]),
        "each tenant is shown its own prefix: {clusters}"
    );
    let topic = fixture.topic("shared", 1).await;
    fixture
        .call(
            "publish_message",
            json!({"topic": topic, "message": "hello"}),
        )
        .await;
    let suffix = unique("agents");
    for (caller, tenant) in [(&acme, "acme"), (&globex, "globex")] {
        let read = fixture
            .try_call(
                caller,
                "consume_messages",
                json!({"topic": topic, "group_id": format!("{tenant}-{suffix}"),
                       "max_messages": 1, "timeout_ms": 8000}),
            )
            .await
            .expect("a group of the tenant's own prefix");
        assert_eq!(read["count"], 1, "{tenant}: {read}");
    }
    let listed = fixture
        .try_call(&acme, "list_consumer_groups", json!({}))
        .await
        .expect("listed");
    let names: Vec<&str> = listed["groups"]
        .as_array()
        .map(|groups| {
            groups
                .iter()
                .filter_map(|g| g["group_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        names.contains(&format!("acme-{suffix}").as_str()),
        "{listed}"
    );
    assert!(
        !names.iter().any(|name| name.starts_with("globex-")),
        "acme sees no group of globex's: {listed}"
    );
    let theirs = format!("globex-{suffix}");
    for (tool, arguments) in [
        (
            "consume_messages",
            json!({"topic": topic, "group_id": theirs, "timeout_ms": 1000}),
        ),
        (
            "get_consumer_group_lag",
            json!({"topic": topic, "group_id": theirs}),
        ),
        (
            "commit_offsets",
            json!({"topic": topic, "group_id": theirs, "offsets": [{"partition": 0, "offset": 0}]}),
        ),
    ] {
        let refused = fixture.refused_for(&acme, tool, arguments).await;
        assert_eq!(field_of(&refused), "group_id", "{tool}: {refused}");
    }
    // acme's attempts moved nothing: globex's group is still past the message.
    let lag = fixture
        .try_call(
            &globex,
            "get_consumer_group_lag",
            json!({"topic": topic, "group_id": theirs}),
        )
        .await
        .expect("globex measures its own group");
    assert_eq!(lag["total_lag"], 0, "{lag}");
    assert_eq!(lag["partitions"][0]["committed_offset"], 1, "{lag}");
}

#[tokio::test]
async fn bad_arguments_name_their_field() {
    let Some(bootstrap) = broker() else {
        return;
    };
    let config = MessagingConfig {
        max_message_bytes: 1024,
        ..loopback_config()
    };
    let fixture = Fixture::new(config)
        .await
        .with_cluster(&bootstrap, json!({}))
        .await;
    let topic = fixture.topic("input", 1).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "consume_messages",
            json!({"topic": topic, "group_id": "g", "max_messages": -1}),
            "max_messages",
        ),
        (
            "consume_messages",
            json!({"topic": topic, "group_id": "g", "timeout_ms": -5}),
            "timeout_ms",
        ),
        (
            "consume_messages",
            json!({"topic": topic, "group_id": "no spaces"}),
            "group_id",
        ),
        (
            "consume_messages",
            json!({"topic": topic, "group_id": "g", "start": "latest", "start_offset": 1}),
            "start",
        ),
        (
            "publish_message",
            json!({"topic": topic, "message": "x".repeat(4096)}),
            "message",
        ),
        ("publish_message", json!({"topic": topic}), "message"),
        (
            "publish_message",
            json!({"topic": topic, "message": "x", "partition": -2}),
            "partition",
        ),
        (
            "publish_message",
            json!({"topic": "bad topic!", "message": "x"}),
            "topic",
        ),
        (
            "create_topic",
            json!({"topic": unique("p"), "partitions": 0}),
            "partitions",
        ),
        (
            "peek_messages",
            json!({"topic": topic, "max_messages": 0}),
            "max_messages",
        ),
    ];
    for (tool, arguments, field) in cases {
        let error = fixture.refused(tool, arguments.clone()).await;
        assert_eq!(field_of(&error), field, "{tool} {arguments}: {error}");
        assert!(error.to_string().len() < 400, "short: {error}");
    }
    // A cluster's group patterns are read when it is stored.
    let patterns = fixture
        .refused_for(
            &ctx("acme", Role::Admin),
            "set_cluster",
            json!({"name": "main", "cluster": {"bootstrap_servers": bootstrap, "groups": ["a[b"]}}),
        )
        .await;
    assert_eq!(field_of(&patterns), "groups", "{patterns}");
    // A key must be a string: the argument's type is refused by its schema.
    let typed = fixture
        .refused(
            "publish_message",
            json!({"topic": topic, "message": "x", "key": 5}),
        )
        .await;
    assert!(
        matches!(typed, HubError::InvalidArguments { .. }),
        "{typed}"
    );
    assert!(typed.to_string().contains("key"), "{typed}");
    // A partition the topic lacks.
    let partition = fixture
        .refused(
            "publish_message",
            json!({"topic": topic, "message": "x", "partition": 7}),
        )
        .await;
    assert_eq!(field_of(&partition), "partition", "{partition}");
    // Creating a topic twice is a conflict.
    let twice = fixture
        .refused("create_topic", json!({"topic": topic}))
        .await;
    assert!(matches!(twice, HubError::Conflict(_)), "{twice}");
}

#[tokio::test]
async fn test_cluster_tells_failures_apart_and_tenants_clusters_are_checked() {
    let for_acme = |bootstrap: &str| DeclaredCluster::plaintext(&["acme"], bootstrap);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("port")
        .port();
    let mut config = loopback_config();
    config.clusters.insert(
        "nowhere".into(),
        for_acme("kafka.tideway-test.invalid:9092"),
    );
    config
        .clusters
        .insert("closed".into(), for_acme(&format!("127.0.0.1:{closed}")));
    let fixture = Fixture::new(config).await;
    let dns = fixture
        .call("test_cluster", json!({"cluster": "nowhere"}))
        .await;
    assert_eq!(dns["failure"], "dns", "{dns}");
    let refused = fixture
        .call("test_cluster", json!({"cluster": "closed"}))
        .await;
    assert_eq!(refused["failure"], "refused", "{refused}");
    assert!(
        refused["hint"]
            .as_str()
            .is_some_and(|hint| hint.contains("listen")),
        "{refused}"
    );
    // The operator's clusters are listed for acme only.
    let listed = fixture.call("list_clusters", json!({})).await;
    assert_eq!(
        listed["clusters"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    assert_eq!(listed["clusters"][0]["origin"], "config");
    let globex = fixture
        .try_call(&ctx("globex", Role::Operator), "list_clusters", json!({}))
        .await
        .expect("listed");
    assert_eq!(globex["clusters"], json!([]));
    // A tenant's own cluster may not name an internal host the operator did not open.
    let closed_off = Fixture::new(MessagingConfig::default()).await;
    let internal = closed_off
        .refused_for(
            &ctx("acme", Role::Admin),
            "set_cluster",
            json!({"name": "inside", "cluster": {"bootstrap_servers": "127.0.0.1:9092"}}),
        )
        .await;
    assert_eq!(field_of(&internal), "bootstrap_servers", "{internal}");
    let malformed = closed_off
        .refused_for(
            &ctx("acme", Role::Admin),
            "set_cluster",
            json!({"name": "bad", "cluster": {"bootstrap_servers": "no-port"}}),
        )
        .await;
    assert_eq!(field_of(&malformed), "bootstrap_servers", "{malformed}");
}

#[tokio::test]
async fn refused_credentials_are_told_as_auth_and_never_quoted() {
    let Some(binary) = broker_binary() else {
        return;
    };
    let port = free_port();
    let _broker = Broker::start(&binary, port, true);
    let fixture = Fixture::new(loopback_config()).await;
    let admin = ctx("acme", Role::Admin);
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        let name = mechanism.to_ascii_lowercase().replace('-', "");
        fixture
            .try_call(
                &admin,
                "set_cluster",
                json!({"name": name, "cluster": {
                    "bootstrap_servers": format!("127.0.0.1:{port}"),
                    "security": "sasl_plaintext",
                    "sasl_mechanism": mechanism,
                    "username": "nobody",
                    "password": PASSWORD,
                }}),
            )
            .await
            .expect("stored");
        // The broker may take a moment to listen; the answer settles on auth.
        let mut test = Value::Null;
        for _ in 0..10 {
            test = fixture.call("test_cluster", json!({"cluster": name})).await;
            if test["failure"] == "auth" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        assert_eq!(test["ok"], false, "{mechanism}: {test}");
        assert_eq!(test["failure"], "auth", "{mechanism}: {test}");
        assert!(
            test["hint"]
                .as_str()
                .is_some_and(|hint| hint.contains("password")),
            "{test}"
        );
        assert!(!test.to_string().contains(PASSWORD), "{test}");
        let publish = fixture
            .refused(
                "publish_message",
                json!({"cluster": name, "topic": "t", "message": "x"}),
            )
            .await;
        assert!(matches!(publish, HubError::Unavailable { .. }), "{publish}");
        assert!(!publish.to_string().contains(PASSWORD), "{publish}");
    }
}

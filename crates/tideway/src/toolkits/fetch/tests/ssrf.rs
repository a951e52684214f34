//! Requests aimed at the network Tideway runs in, every one refused before a
//! connection is made: every internal address family, the spellings of a loopback
//! address the URL parser accepts, names that resolve inward, redirects from an
//! allowed site to forbidden places, a DNS answer that changes between two requests,
//! and schemes that are not HTTP. Listeners on the forbidden addresses count every
//! connection; they must count none.

use serde_json::json;
use tideway_core::{HubError, context::Role};

use super::{Fixture, Forbidden, RobotsTxt, Site, ctx};

/// The refusal the call must end in, by a fragment of its message.
const INTERNAL: &str = "internal address";
const SCHEME: &str = "only http and https";
const CREDENTIALS: &str = "user name or password";

fn forbidden_with(result: Result<serde_json::Value, HubError>, fragment: &str, case: &str) {
    match result {
        Err(HubError::Forbidden(message)) => {
            assert!(message.contains(fragment), "{case}: {message}");
        }
        other => panic!("{case}: expected a refusal naming '{fragment}', got {other:?}"),
    }
}

fn percent(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn nothing_internal_is_reached_however_it_is_spelled_or_reached() {
    let site = Site::start(RobotsTxt::Missing).await;
    let port = site.address.port();
    // The same port on 127.0.0.2 (not opened) and on ::1: what a slip would reach.
    let forbidden_v4 = Forbidden::listen(([127, 0, 0, 2], port).into())
        .await
        .expect("127.0.0.2 can be bound on loopback");
    let forbidden_v6 = Forbidden::listen(format!("[::1]:{port}").parse().expect("v6")).await;
    let fixture = Fixture::new(|config| config.obey_robots_txt = false).await;
    for (name, answers) in [
        ("private.test", &["10.0.0.5"][..]),
        ("metadata.test", &["169.254.169.254"]),
        ("loop.test", &["127.0.0.2"]),
        ("mixed.test", &["93.184.216.34", "127.0.0.2"]),
        ("v6loop.test", &["::1"]),
        ("mapped.test", &["::ffff:127.0.0.2"]),
        ("cgnat.test", &["100.64.1.1"]),
        ("ula.test", &["fd00:ec2::254"]),
    ] {
        fixture.lookup.answer(name, &[answers]);
    }

    let mut cases: Vec<(String, &str)> = Vec::new();
    // Every internal family, as a literal address.
    for host in [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.100.100.200",
        "192.0.0.192",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "240.0.0.1",
        "198.18.0.1",
        "[::1]",
        "[::]",
        "[fd00:ec2::254]",
        "[fc00::1]",
        "[fe80::1]",
        "[fec0::1]",
        "[ff02::1]",
        "[::ffff:169.254.169.254]",
        "[::ffff:10.0.0.1]",
        "[64:ff9b::a9fe:a9fe]",
        "[2002:a9fe:a9fe::]",
        "[::a9fe:a9fe]",
    ] {
        cases.push((format!("http://{host}/latest/meta-data/"), INTERNAL));
    }
    // 127.0.0.2 as the URL parser reads it: decimal, hex, octal, short forms,
    // percent-encoded, full-width digits, IPv4-mapped and -compatible IPv6.
    for host in [
        "127.0.0.2",
        "2130706434",
        "0x7f000002",
        "0177.0.0.2",
        "0x7f.0.0.2",
        "0x7F.0x00.0x00.0x02",
        "127.2",
        "127.0.2",
        "127.000.000.002",
        "2130706434.",
        "%31%32%37.0.0.2",
        "１２７．０．０．２",
        "[::ffff:127.0.0.2]",
        "[::ffff:7f00:2]",
        "[0:0:0:0:0:ffff:127.0.0.2]",
        "[::127.0.0.2]",
        "[::1]",
    ] {
        cases.push((format!("http://{host}:{port}/"), INTERNAL));
    }
    // Names that resolve inward.
    for host in [
        "private.test",
        "metadata.test",
        "loop.test",
        "mixed.test",
        "v6loop.test",
        "mapped.test",
        "cgnat.test",
        "ula.test",
    ] {
        cases.push((format!("http://{host}:{port}/"), INTERNAL));
    }
    // Credentials in the URL, and schemes that are not HTTP.
    cases.push((
        format!("http://user:pass@127.0.0.1:{port}/plain"),
        CREDENTIALS,
    ));
    cases.push((
        format!("http://127.0.0.1:{port}@127.0.0.2:{port}/"),
        CREDENTIALS,
    ));
    for url in [
        "file:///etc/passwd".to_string(),
        format!("gopher://127.0.0.2:{port}/_x"),
        format!("ftp://127.0.0.2:{port}/"),
        format!("dict://127.0.0.2:{port}/"),
        "data:text/plain,hello".to_string(),
        format!("ws://127.0.0.2:{port}/"),
    ] {
        cases.push((url, SCHEME));
    }
    // Redirects from the allowed site to forbidden places.
    for location in [
        format!("http://127.0.0.2:{port}/"),
        format!("http://2130706434:{port}/"),
        format!("//127.0.0.2:{port}/scheme-relative"),
        format!("http://[::ffff:127.0.0.2]:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://loop.test:{port}/"),
        "http://169.254.169.254/latest/meta-data/iam/".to_string(),
        "http://metadata.test/computeMetadata/v1/".to_string(),
    ] {
        cases.push((
            site.url(&format!("/to?location={}", percent(&location))),
            INTERNAL,
        ));
    }
    for location in ["file:///etc/passwd", "gopher://127.0.0.2/"] {
        cases.push((
            site.url(&format!("/to?location={}", percent(location))),
            SCHEME,
        ));
    }
    // A redirect to a redirect to a forbidden place.
    let inner = site.url(&format!(
        "/to?location={}",
        percent(&format!("http://127.0.0.2:{port}/"))
    ));
    cases.push((
        site.url(&format!("/to?status=307&location={}", percent(&inner))),
        INTERNAL,
    ));
    assert!(cases.len() >= 60, "{} cases", cases.len());

    for (url, fragment) in &cases {
        let result = fixture.call("fetch", json!({"url": url})).await;
        forbidden_with(result, fragment, url);
    }
    // The same guard holds for API calls, whatever the method.
    for (method, url) in [
        ("POST", format!("http://127.0.0.2:{port}/")),
        ("PUT", format!("http://loop.test:{port}/")),
        ("DELETE", "http://[fd00:ec2::254]/".to_string()),
        (
            "POST",
            site.url(&format!(
                "/to?status=307&location={}",
                percent(&format!("http://127.0.0.2:{port}/"))
            )),
        ),
    ] {
        let result = fixture
            .call(
                "http_request",
                json!({"method": method, "url": url, "json": {"x": 1}}),
            )
            .await;
        forbidden_with(result, INTERNAL, &url);
    }

    assert_eq!(forbidden_v4.count(), 0, "a connection reached 127.0.0.2");
    if let Some(v6) = forbidden_v6 {
        assert_eq!(v6.count(), 0, "a connection reached ::1");
    }
    // The allowed site saw only the redirecting requests, never a forbidden hop.
    assert!(
        site.paths_seen()
            .iter()
            .all(|path| path.starts_with("/to?"))
    );
}

#[tokio::test]
async fn a_name_that_answers_differently_the_next_time_is_checked_again() {
    let site = Site::start(RobotsTxt::Missing).await;
    let port = site.address.port();
    let forbidden = Forbidden::listen(([127, 0, 0, 2], port).into())
        .await
        .expect("127.0.0.2 can be bound on loopback");
    let fixture = Fixture::new(|config| config.obey_robots_txt = false).await;
    // First an address the operator opened, then an internal one (DNS rebinding).
    fixture
        .lookup
        .answer("rebind.test", &[&["127.0.0.1"], &["127.0.0.2"]]);
    let url = format!("http://rebind.test:{port}/close");
    let first = fixture
        .call("fetch", json!({"url": url}))
        .await
        .expect("the first answer is allowed");
    assert_eq!(first["structured"]["content"], "closed after this");
    let second = fixture.call("fetch", json!({"url": url})).await;
    forbidden_with(second, INTERNAL, "the second answer");
    assert_eq!(forbidden.count(), 0, "the rebound address was connected to");
    assert_eq!(
        fixture
            .lookup
            .asked
            .load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one resolution per connection, each checked"
    );
}

#[tokio::test]
async fn without_an_allow_list_loopback_and_localhost_are_refused() {
    let site = Site::start(RobotsTxt::Missing).await;
    let port = site.address.port();
    let fixture = Fixture::new(|config| config.allow.clear()).await;
    for url in [
        site.url("/plain"),
        format!("http://localhost:{port}/plain"),
        format!("http://LOCALHOST:{port}/plain"),
        format!("http://[::ffff:127.0.0.1]:{port}/plain"),
    ] {
        let result = fixture.call("fetch", json!({"url": url})).await;
        forbidden_with(result, INTERNAL, &url);
        let result = fixture.call("http_request", json!({"url": url})).await;
        forbidden_with(result, INTERNAL, &url);
    }
    assert!(site.paths_seen().is_empty(), "{:?}", site.paths_seen());
    // robots.txt of a forbidden site is not fetched either: a viewer's fetch is
    // refused by the same guard.
    let viewer = ctx("acme", Role::Viewer);
    let result = fixture
        .call_as(
            &viewer,
            "fetch",
            json!({"url": format!("http://localhost:{port}/")}),
        )
        .await;
    forbidden_with(result, INTERNAL, "viewer");
    assert!(site.paths_seen().is_empty());
}

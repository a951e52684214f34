//! What `fetch` and `http_request` do for URLs they may reach: Markdown of a page's
//! main content, read in windows; JSON pretty; text in its charset; binary refused by
//! type; redirects followed to a limit; bodies capped; slow answers cut off by the
//! deadline; robots.txt obeyed (and a broken one taken as "no"); the configured
//! User-Agent; API calls with any method; credentials never carried to another
//! origin.

use serde_json::json;
use tideway_core::{HubError, context::Role};

use super::{ARTICLE_SENTENCE, Fixture, RobotsTxt, Site, ctx};

#[tokio::test]
async fn a_page_comes_back_as_markdown_of_its_main_content_in_windows() {
    let site = Site::start(RobotsTxt::Rules).await;
    let fixture = Fixture::new(|_| {}).await;
    let page = fixture
        .call(
            "fetch",
            json!({"url": site.url("/article"), "max_length": 100000}),
        )
        .await
        .expect("fetch");
    let markdown = page["structured"]["content"].as_str().expect("content");
    assert!(markdown.contains("Field notes"), "{markdown}");
    assert!(markdown.contains("## Findings"), "{markdown}");
    assert!(
        markdown.contains("*first*") || markdown.contains("_first_"),
        "{markdown}"
    );
    assert!(markdown.contains(ARTICLE_SENTENCE.trim()), "{markdown}");
    assert!(
        markdown.contains(&format!("[more notes]({})", site.url("/docs/more"))),
        "links are made absolute: {markdown}"
    );
    for gone in [
        "SCRIPTED",
        "NAVIGATION-LINK",
        "FOOTER-BOILERPLATE",
        "color:red",
        "<p>",
    ] {
        assert!(!markdown.contains(gone), "{gone} in {markdown}");
    }
    assert_eq!(page["structured"]["next_start_index"], json!(null));
    assert!(
        page["text"]
            .as_str()
            .expect("text")
            .starts_with("Contents of http://")
    );

    // The same page in windows of 300 characters: they join into the whole, and
    // each cut one says where to go on.
    let total = page["structured"]["total_length"].as_u64().expect("total") as usize;
    let mut start = 0;
    let mut joined = String::new();
    let mut calls = 0;
    loop {
        let part = fixture
            .call(
                "fetch",
                json!({"url": site.url("/article"), "max_length": 300, "start_index": start}),
            )
            .await
            .expect("window");
        joined.push_str(part["structured"]["content"].as_str().expect("content"));
        calls += 1;
        match part["structured"]["next_start_index"].as_u64() {
            Some(next) => {
                assert!(
                    part["text"]
                        .as_str()
                        .expect("text")
                        .contains(&format!("start_index={next}")),
                    "the hint names where to go on"
                );
                start = next as usize;
            }
            None => break,
        }
    }
    assert_eq!(joined, markdown);
    assert_eq!(calls, total.div_ceil(300));
    let past = fixture
        .call(
            "fetch",
            json!({"url": site.url("/article"), "start_index": total + 5}),
        )
        .await
        .expect_err("past the end");
    assert!(
        matches!(&past, HubError::InvalidArguments { field, .. } if field == "start_index"),
        "{past}"
    );

    let raw = fixture
        .call(
            "fetch",
            json!({"url": site.url("/article"), "raw": true, "max_length": 100000}),
        )
        .await
        .expect("raw");
    assert!(
        raw["structured"]["content"]
            .as_str()
            .expect("raw")
            .contains("<nav><a href='/'>NAVIGATION-LINK</a></nav>")
    );
}

#[tokio::test]
async fn json_text_charsets_and_binary_are_each_handled_by_type() {
    let site = Site::start(RobotsTxt::Missing).await;
    let fixture = Fixture::new(|_| {}).await;
    let data = fixture
        .call("fetch", json!({"url": site.url("/data.json")}))
        .await
        .expect("json");
    assert_eq!(
        data["structured"]["content"],
        "{\n  \"a\": 1,\n  \"list\": [\n    1,\n    2\n  ]\n}"
    );
    let plain = fixture
        .call("fetch", json!({"url": site.url("/plain")}))
        .await
        .expect("plain");
    assert_eq!(plain["structured"]["content"], "just some plain text");
    let latin = fixture
        .call("fetch", json!({"url": site.url("/latin1")}))
        .await
        .expect("latin1");
    assert_eq!(latin["structured"]["content"], "café crème");
    let image = fixture
        .call("fetch", json!({"url": site.url("/image.png")}))
        .await
        .expect_err("binary");
    assert!(
        matches!(&image, HubError::Unsupported(message) if message.contains("image/png")),
        "{image}"
    );
    let missing = fixture
        .call("fetch", json!({"url": site.url("/missing")}))
        .await
        .expect_err("404");
    assert!(missing.to_string().contains("404"), "{missing}");
    let bad = fixture
        .call("fetch", json!({"url": "not a url at all"}))
        .await
        .expect_err("bad url");
    assert!(
        matches!(&bad, HubError::InvalidArguments { field, .. } if field == "url"),
        "{bad}"
    );
}

#[tokio::test]
async fn redirects_are_followed_to_the_limit_and_bodies_and_time_are_capped() {
    let site = Site::start(RobotsTxt::Missing).await;
    let fixture = Fixture::new(|config| {
        config.max_redirects = 3;
        config.max_body_bytes = 1024 * 1024;
        config.timeout_secs = 2;
    })
    .await;
    let followed = fixture
        .call("fetch", json!({"url": site.url("/redirect/2")}))
        .await
        .expect("three redirects");
    assert_eq!(followed["structured"]["content"], "just some plain text");
    assert_eq!(followed["structured"]["url"], site.url("/plain"));
    for url in [site.url("/redirect/3"), site.url("/loop")] {
        let error = fixture
            .call("fetch", json!({"url": url}))
            .await
            .expect_err("too many");
        assert!(error.to_string().contains("more than 3 times"), "{error}");
    }

    let huge = fixture
        .call("fetch", json!({"url": site.url("/huge"), "max_length": 10}))
        .await
        .expect("huge");
    assert_eq!(huge["structured"]["total_length"], 1024 * 1024);
    assert_eq!(huge["structured"]["page_cut"], true);
    assert!(
        huge["text"]
            .as_str()
            .expect("text")
            .contains("its end is missing")
    );

    let slow = fixture
        .call("fetch", json!({"url": site.url("/slow")}))
        .await
        .expect_err("slow");
    assert!(matches!(slow, HubError::DeadlineExceeded(_)), "{slow}");
    let slow = fixture
        .call(
            "http_request",
            json!({"url": site.url("/slow"), "timeout_secs": 1}),
        )
        .await
        .expect_err("slow");
    assert!(matches!(slow, HubError::DeadlineExceeded(_)), "{slow}");
}

#[tokio::test]
async fn robots_txt_is_obeyed_by_fetch_and_a_broken_one_means_no() {
    let site = Site::start(RobotsTxt::Rules).await;
    let fixture = Fixture::new(|_| {}).await;
    fixture
        .call("fetch", json!({"url": site.url("/plain")}))
        .await
        .expect("allowed");
    let refused = fixture
        .call("fetch", json!({"url": site.url("/private/page")}))
        .await
        .expect_err("disallowed");
    assert!(
        matches!(&refused, HubError::Forbidden(message) if message.contains("robots.txt")),
        "{refused}"
    );
    // robots.txt was read once for both, and the private page never requested.
    let paths = site.paths_seen();
    assert_eq!(
        paths.iter().filter(|path| *path == "/robots.txt").count(),
        1
    );
    assert!(!paths.contains(&"/private/page".to_string()), "{paths:?}");
    // An API call does not consult robots.txt.
    let api = fixture
        .call("http_request", json!({"url": site.url("/private/page")}))
        .await
        .expect("api call");
    assert_eq!(api["structured"]["text"], "private words");

    // The agent is the User-Agent's first word.
    let blocked =
        Fixture::new(|config| config.user_agent = "Tideway-Test-Blocked/1.0".into()).await;
    let error = blocked
        .call("fetch", json!({"url": site.url("/plain")}))
        .await
        .expect_err("agent blocked");
    assert!(
        error.to_string().contains("Tideway-Test-Blocked"),
        "{error}"
    );

    let broken = Site::start(RobotsTxt::Broken).await;
    let error = fixture
        .call("fetch", json!({"url": broken.url("/plain")}))
        .await
        .expect_err("503 robots");
    assert!(
        matches!(&error, HubError::Forbidden(message) if message.contains("503")),
        "{error}"
    );
    assert_eq!(broken.paths_seen(), ["/robots.txt"]);

    let missing = Site::start(RobotsTxt::Missing).await;
    fixture
        .call("fetch", json!({"url": missing.url("/plain")}))
        .await
        .expect("a missing robots.txt allows all");

    let ignoring = Fixture::new(|config| config.obey_robots_txt = false).await;
    let private = ignoring
        .call("fetch", json!({"url": site.url("/private/page")}))
        .await
        .expect("robots.txt off");
    assert_eq!(private["structured"]["content"], "private words");
}

#[tokio::test]
async fn api_calls_carry_method_headers_and_body_and_show_the_answer() {
    let site = Site::start(RobotsTxt::Missing).await;
    let fixture = Fixture::new(|config| config.user_agent = "Tideway-Test/2.0 (ci)".into()).await;
    let answer = fixture
        .call(
            "http_request",
            json!({
                "method": "POST",
                "url": site.url("/echo"),
                "headers": {"X-Trace": "abc"},
                "json": {"name": "Ada"},
            }),
        )
        .await
        .expect("post");
    let structured = &answer["structured"];
    assert_eq!(structured["status"], 201);
    assert_eq!(structured["json"]["method"], "POST");
    assert_eq!(structured["json"]["body"], r#"{"name":"Ada"}"#);
    assert_eq!(structured["json"]["headers"]["x-trace"], "abc");
    assert_eq!(
        structured["json"]["headers"]["content-type"],
        "application/json"
    );
    assert_eq!(
        structured["json"]["headers"]["user-agent"],
        "Tideway-Test/2.0 (ci)"
    );
    assert_eq!(structured["headers"]["x-echo"], "yes");
    assert!(
        structured["headers"].get("set-cookie").is_none(),
        "cookies the site sets are not shown"
    );
    assert!(!answer.to_string().contains("site-secret"));

    // 303 turns a POST into a GET without its body.
    let other = fixture
        .call(
            "http_request",
            json!({"method": "POST", "url": site.url("/see-other"), "body": "payload"}),
        )
        .await
        .expect("see other");
    assert_eq!(other["structured"]["json"]["method"], "GET");
    assert_eq!(other["structured"]["json"]["body"], "");

    for (arguments, field) in [
        (
            json!({"url": site.url("/echo"), "headers": {"Host": "evil"}}),
            "headers",
        ),
        (
            json!({"url": site.url("/echo"), "headers": {"bad header": "x"}}),
            "headers",
        ),
        (
            json!({"url": site.url("/echo"), "headers": {"X-A": "line\nbreak"}}),
            "headers",
        ),
        (
            json!({"url": site.url("/echo"), "json": {}, "body": "x"}),
            "body",
        ),
    ] {
        let error = fixture
            .call("http_request", arguments)
            .await
            .expect_err("refused");
        assert!(
            matches!(&error, HubError::InvalidArguments { field: named, .. } if named == field),
            "{error}"
        );
    }
    // An API call changes things: viewers may read pages but not call.
    let viewer = ctx("acme", Role::Viewer);
    let denied = fixture
        .call_as(&viewer, "http_request", json!({"url": site.url("/echo")}))
        .await
        .expect_err("viewer");
    assert!(matches!(denied, HubError::Forbidden(_)), "{denied}");
    fixture
        .call_as(&viewer, "fetch", json!({"url": site.url("/plain")}))
        .await
        .expect("viewers fetch pages");
}

#[tokio::test]
async fn credentials_are_not_carried_to_another_origin() {
    let first = Site::start(RobotsTxt::Missing).await;
    let other = Site::start(RobotsTxt::Missing).await;
    let fixture = Fixture::new(|_| {}).await;
    let away = first.url(&format!(
        "/to?location={}",
        percent_encoding::utf8_percent_encode(
            &other.url("/echo"),
            percent_encoding::NON_ALPHANUMERIC
        )
    ));
    let answer = fixture
        .call(
            "http_request",
            json!({
                "url": away,
                "headers": {"Authorization": "Bearer caller-token", "Cookie": "a=b", "X-Kept": "1"},
            }),
        )
        .await
        .expect("followed");
    let seen = &answer["structured"]["json"]["headers"];
    assert!(seen.get("authorization").is_none(), "{seen}");
    assert!(seen.get("cookie").is_none(), "{seen}");
    assert_eq!(seen["x-kept"], "1");
    // The first origin did get them.
    let first_seen = first.seen();
    assert_eq!(
        first_seen[0].headers["authorization"],
        "Bearer caller-token"
    );
}

//! Signing in: a page needs a session, a key signs in through the form, a bad key,
//! an altered cookie or a revoked key does not keep anyone in.

use reqwest::StatusCode;
use tideway_core::Role;

use super::Site;

#[tokio::test]
async fn a_page_without_a_session_leads_to_the_sign_in_form_and_back() {
    let console = Site::start().await;
    let page = console.get("/console/workflows", None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location.as_deref(),
        Some("/console/sign-in?next=%2Fconsole%2Fworkflows")
    );
    // A form posted without a session leads to sign in too, and back to a page.
    let posted = console
        .post("/console/tools/system/echo", None, &[("arg.message", "hi")])
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        posted.location.as_deref(),
        Some("/console/sign-in?next=%2Fconsole%2Foverview")
    );
    let form = console
        .get("/console/sign-in?next=/console/workflows", None)
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.html.contains("name=\"credential\""), "{}", form.html);
    // HTML-escaped, as every value in a page is.
    assert!(
        form.html.contains("value=\"&#x2f;console&#x2f;workflows\""),
        "{}",
        form.html
    );
    // Elsewhere is never where sign-in leads.
    let evil = console
        .get("/console/sign-in?next=https://evil.test/", None)
        .await;
    assert!(
        evil.html.contains("value=\"&#x2f;console&#x2f;overview\""),
        "{}",
        evil.html
    );
}

#[tokio::test]
async fn a_key_signs_in_and_a_bad_key_does_not() {
    let console = Site::start().await;
    let refused = console
        .post(
            "/console/sign-in",
            None,
            &[
                ("credential", "tw_notakey12345_secret"),
                ("next", "/console/overview"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused.html.contains("was not accepted"),
        "{}",
        refused.html
    );
    let empty = console
        .post("/console/sign-in", None, &[("credential", "")])
        .await;
    assert_eq!(empty.status, StatusCode::UNAUTHORIZED);

    let key = console.key(Role::Viewer).await;
    let signed = console
        .post(
            "/console/sign-in",
            None,
            &[("credential", &key), ("next", "/console/overview")],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location.as_deref(), Some("/console/overview"));
    let browser = console.sign_in(&key).await;
    let overview = browser.get("/console/overview").await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.html);
    assert!(overview.html.contains("Components"), "{}", overview.html);
    assert!(overview.html.contains("viewer"), "{}", overview.html);
    // The key itself is never written into a page.
    assert!(!overview.html.contains(&key));
}

#[tokio::test]
async fn the_session_cookie_is_sealed_scoped_and_ends_with_its_key() {
    let console = Site::start().await;
    let key = console.key(Role::Operator).await;
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}/console/sign-in", console.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("credential={key}"))
        .send()
        .await
        .expect("sign in");
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    // Sealed: the key is not readable in the cookie.
    let secret = key.get(16..).expect("secret");
    assert!(!cookie.contains(secret), "{cookie}");

    let browser = console.sign_in(&key).await;
    assert_eq!(browser.get("/console/tools").await.status, StatusCode::OK);
    // An altered cookie opens nothing.
    let mut altered = browser.cookie().to_string();
    let last = altered.pop().expect("a character");
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let page = console.get("/console/tools", Some(&altered)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);

    // Revoking the key ends the session on the next request.
    let prefix = super::prefix(&key).to_string();
    let revoked = console
        .app
        .store
        .revoke_api_key(None, &prefix)
        .await
        .expect("revoke");
    assert!(revoked.is_some());
    if let Some(keys) = console.app.auth.keys() {
        keys.forget(&prefix);
    }
    let page = browser.get("/console/tools").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
}

#[tokio::test]
async fn signing_out_needs_the_token_and_ends_the_session_cookie() {
    let console = Site::start().await;
    let key = console.key(Role::Viewer).await;
    let browser = console.sign_in(&key).await;
    let refused = browser.post_without_token("/console/sign-out", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let out = browser.post("/console/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location.as_deref(), Some("/console/sign-in"));
}

//! Paths that try to leave a root: spelled out (absolute, `..`, encodings, other
//! separators, lookalikes, NUL, overlong), through symlinks planted in the root
//! (absolute, relative, to folders, to `/proc` and `/etc`, loops), through a hard
//! link and a FIFO, and a folder swapped for a symlink while writes run. Every case
//! runs on a fresh root; none may read the secret outside or change anything there.

use std::os::unix::fs::symlink;

use serde_json::{Value, json};

use super::{Fixture, SECRET};

/// Plants the ways out in acme's home, beside ordinary files.
pub(super) fn plant(fixture: &Fixture) {
    let home = fixture.home("acme");
    let outside = fixture.outside();
    std::fs::write(home.join("notes.txt"), "first\nsecond\n").expect("notes");
    std::fs::create_dir_all(home.join("sub/deeper")).expect("sub");
    symlink(outside.join("secret.txt"), home.join("escape_abs")).expect("link");
    symlink("../../../outside/secret.txt", home.join("escape_rel")).expect("link");
    symlink(&outside, home.join("escape_dir")).expect("link");
    symlink("../..", home.join("sub/up")).expect("link");
    symlink("/proc/self/environ", home.join("proc")).expect("link");
    symlink("/etc", home.join("etc")).expect("link");
    symlink("loop", home.join("loop")).expect("link");
    symlink("notes.txt", home.join("inner_link")).expect("link");
    std::fs::hard_link(outside.join("secret.txt"), home.join("hard")).expect("hard link");
    let fifo =
        std::ffi::CString::new(home.join("fifo").as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// How a case must end, beyond leaving the outside untouched and unread.
#[derive(Clone, Copy, Debug)]
pub(super) enum Expect {
    Refused,
    /// Allowed because it stays inside the root (it acts on a symlink itself).
    Inside,
}

pub(super) fn cases() -> Vec<(&'static str, Value, Expect)> {
    use Expect::*;
    let mut cases = Vec::new();
    let reads = [
        "/etc/passwd",
        "/",
        "~/secret.txt",
        "..",
        "../outside/secret.txt",
        "home/../../../outside/secret.txt",
        "home/sub/../../secret.txt",
        "home/./../notes.txt",
        "home/escape_abs",
        "home/escape_rel",
        "home/escape_dir/secret.txt",
        "home/escape_dir/inner/deep.txt",
        "home/sub/up/acme/notes.txt",
        "home/sub/up/../../outside/secret.txt",
        "home/proc",
        "home/etc/passwd",
        "home/etc/hostname",
        "home/hard",
        "home/fifo",
        "home/loop",
        "home\\..\\..\\..\\outside\\secret.txt",
        "home/..\\..\\secret.txt",
        "home/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
        "home/..%2f..%2f..%2foutside%2fsecret.txt",
        "home/\u{2024}\u{2024}/\u{2024}\u{2024}/outside/secret.txt",
        "home/\u{ff0e}\u{ff0e}/\u{ff0e}\u{ff0e}/outside/secret.txt",
        "home/\u{2215}..\u{2215}secret.txt",
        "home/notes.txt\0/../../secret.txt",
        "file:///etc/passwd",
        "shared/../home/notes.txt",
        "globex/notes.txt",
        "outside/secret.txt",
        "data/files/acme/notes.txt",
        "home/sub",
        "home",
    ];
    for path in reads {
        cases.push(("read_text_file", json!({ "path": path }), Refused));
    }
    let long_name = format!("home/{}", "a".repeat(300));
    cases.push(("read_text_file", json!({ "path": long_name }), Refused));
    let long_path = format!("home/{}", "a/".repeat(2100));
    cases.push(("read_text_file", json!({ "path": long_path }), Refused));
    for path in [
        "home/escape_abs",
        "home/hard",
        "home/proc",
        "home/escape_dir/secret.txt",
    ] {
        cases.push(("read_media_file", json!({ "path": path }), Refused));
    }
    cases.push((
        "read_multiple_files",
        json!({ "paths": ["home/escape_abs", "home/hard", "/etc/passwd"] }),
        Inside,
    ));
    for path in [
        "home/escape_dir",
        "home/sub/up",
        "home/etc",
        "home/escape_dir/inner",
    ] {
        cases.push(("list_directory", json!({ "path": path }), Refused));
    }
    cases.push((
        "list_directory_with_sizes",
        json!({ "path": "home/escape_dir" }),
        Refused,
    ));
    cases.push((
        "directory_tree",
        json!({ "path": "home/escape_dir" }),
        Refused,
    ));
    // The tree, the search and the grep of the home itself see the links as links.
    cases.push((
        "directory_tree",
        json!({ "path": "home", "max_depth": 32 }),
        Inside,
    ));
    cases.push((
        "search_files",
        json!({ "path": "home", "pattern": "*secret*" }),
        Inside,
    ));
    cases.push((
        "search_files",
        json!({ "path": "home/escape_dir", "pattern": "*" }),
        Refused,
    ));
    cases.push((
        "grep_files",
        json!({ "path": "home", "pattern": "TOPSECRET" }),
        Inside,
    ));
    cases.push((
        "grep_files",
        json!({ "path": "home/sub/up", "pattern": "." }),
        Refused,
    ));
    cases.push((
        "get_file_info",
        json!({ "path": "home/escape_dir/secret.txt" }),
        Refused,
    ));
    cases.push((
        "get_file_info",
        json!({ "path": "home/sub/up/acme" }),
        Refused,
    ));
    for path in [
        "home/escape_dir/planted.txt",
        "home/sub/up/planted.txt",
        "home/etc/planted",
        "home/../../../outside/planted.txt",
        "/tmp/planted.txt",
    ] {
        cases.push((
            "write_file",
            json!({ "path": path, "content": "planted", "overwrite": true }),
            Refused,
        ));
    }
    // Replacing a symlink replaces the link, never the file it points to.
    cases.push((
        "write_file",
        json!({ "path": "home/escape_abs", "content": "planted", "overwrite": true }),
        Inside,
    ));
    cases.push((
        "write_file",
        json!({ "path": "home/hard", "content": "planted", "overwrite": true }),
        Inside,
    ));
    cases.push((
        "edit_file",
        json!({ "path": "home/escape_abs", "edits": [{ "oldText": "TOPSECRET", "newText": "x" }] }),
        Refused,
    ));
    cases.push((
        "edit_file",
        json!({ "path": "home/hard", "edits": [{ "oldText": "TOPSECRET", "newText": "x" }] }),
        Refused,
    ));
    cases.push((
        "create_directory",
        json!({ "path": "home/escape_dir/made" }),
        Refused,
    ));
    cases.push((
        "create_directory",
        json!({ "path": "home/sub/up/made" }),
        Refused,
    ));
    cases.push((
        "move_file",
        json!({ "source": "home/notes.txt", "destination": "home/escape_dir/moved.txt" }),
        Refused,
    ));
    cases.push((
        "move_file",
        json!({ "source": "home/escape_dir/secret.txt", "destination": "home/stolen.txt" }),
        Refused,
    ));
    cases.push((
        "move_file",
        json!({ "source": "home/notes.txt", "destination": "shared/moved.txt" }),
        Refused,
    ));
    cases.push((
        "move_file",
        json!({ "source": "home/escape_abs", "destination": "home/moved_link" }),
        Inside,
    ));
    cases.push((
        "delete_file",
        json!({ "path": "home/escape_dir/secret.txt" }),
        Refused,
    ));
    cases.push((
        "delete_file",
        json!({ "path": "home/escape_dir", "recursive": true }),
        Inside,
    ));
    cases.push(("delete_file", json!({ "path": "home/escape_abs" }), Inside));
    cases.push((
        "delete_file",
        json!({ "path": "home/sub/up/acme", "recursive": true }),
        Refused,
    ));
    cases
}

#[tokio::test]
async fn no_path_reads_or_changes_anything_outside_a_root() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    for (tool, arguments, expect) in cases {
        let fixture = Fixture::new();
        plant(&fixture);
        let before = fixture.outside_snapshot();
        let outcome = fixture.call("acme", tool, arguments.clone()).await;
        let shown = match &outcome {
            Ok(value) => value.to_string(),
            Err(error) => error.to_string(),
        };
        assert!(
            !shown.contains(SECRET),
            "{tool} {arguments} revealed the secret: {shown}"
        );
        assert!(
            !shown.contains(&fixture.dir.path().display().to_string()),
            "{tool} {arguments} revealed the server's path: {shown}"
        );
        match (expect, &outcome) {
            (Expect::Refused, Ok(value)) => {
                panic!("{tool} {arguments} should be refused, answered {value}")
            }
            (Expect::Inside, Err(error)) => {
                panic!("{tool} {arguments} stays inside and should work: {error}")
            }
            _ => {}
        }
        assert_eq!(
            fixture.outside_snapshot(),
            before,
            "{tool} {arguments} changed the outside"
        );
        assert!(
            !fixture.dir.path().join("data/files/planted.txt").exists()
                && !std::path::Path::new("/tmp/planted.txt").exists(),
            "{tool} {arguments} wrote beside the roots"
        );
    }
}

#[tokio::test]
async fn a_folder_swapped_for_a_symlink_during_writes_never_leads_out() {
    let fixture = Fixture::new();
    let home = fixture.home("acme");
    let outside = fixture.outside();
    std::fs::create_dir_all(home.join("swap")).expect("swap");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let home = home.clone();
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // The folder becomes a link to the outside and back, over and over.
                let _ = std::fs::rename(home.join("swap"), home.join("swap.real"));
                let _ = symlink(&outside, home.join("swap"));
                let _ = std::fs::remove_file(home.join("swap"));
                let _ = std::fs::rename(home.join("swap.real"), home.join("swap"));
                swaps += 1;
            }
            swaps
        })
    };
    let before = fixture.outside_snapshot();
    for round in 0..300 {
        let path = format!("home/swap/file-{round}.txt");
        let _ = fixture
            .call(
                "acme",
                "write_file",
                json!({ "path": path, "content": "x" }),
            )
            .await;
        let _ = fixture
            .call(
                "acme",
                "read_text_file",
                json!({ "path": "home/swap/secret.txt" }),
            )
            .await
            .map(|answer| assert!(!answer.to_string().contains(SECRET)));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    assert!(swaps > 0);
    assert_eq!(fixture.outside_snapshot(), before, "a write landed outside");
}

#[tokio::test]
async fn tenants_see_only_their_own_roots() {
    let fixture = Fixture::new();
    plant(&fixture);
    // globex's home is its own: acme's notes are not there.
    let error = fixture
        .call(
            "globex",
            "read_text_file",
            json!({ "path": "home/notes.txt" }),
        )
        .await
        .expect_err("not globex's");
    assert!(error.to_string().contains("does not exist"), "{error}");
    // The shared root is granted to acme only; to globex it does not exist.
    let error = fixture
        .call(
            "globex",
            "read_text_file",
            json!({ "path": "shared/handbook.md" }),
        )
        .await
        .expect_err("not granted");
    assert!(
        error.to_string().contains("no root named 'shared'"),
        "{error}"
    );
    assert!(error.to_string().contains("home, drop"), "{error}");
    let roots = fixture
        .call("globex", "list_allowed_directories", json!({}))
        .await
        .expect("roots");
    let names: Vec<&str> = roots["structured"]["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .filter_map(|root| root["name"].as_str())
        .collect();
    assert_eq!(names, ["home", "drop"]);
    // What one tenant writes to its home, the other cannot read.
    fixture
        .call(
            "globex",
            "write_file",
            json!({ "path": "home/mine.txt", "content": "globex only" }),
        )
        .await
        .expect("write");
    let error = fixture
        .call("acme", "read_text_file", json!({ "path": "home/mine.txt" }))
        .await
        .expect_err("globex's");
    assert!(error.to_string().contains("does not exist"), "{error}");
}

#[tokio::test]
async fn a_read_only_root_refuses_every_change() {
    let fixture = Fixture::new();
    for (tool, arguments) in [
        (
            "write_file",
            json!({ "path": "shared/new.md", "content": "x" }),
        ),
        (
            "write_file",
            json!({ "path": "shared/handbook.md", "content": "x", "overwrite": true }),
        ),
        (
            "edit_file",
            json!({ "path": "shared/handbook.md", "edits": [{ "oldText": "kind", "newText": "cruel" }] }),
        ),
        ("create_directory", json!({ "path": "shared/folder" })),
        (
            "move_file",
            json!({ "source": "shared/handbook.md", "destination": "shared/moved.md" }),
        ),
        ("delete_file", json!({ "path": "shared/handbook.md" })),
    ] {
        let error = fixture
            .call("acme", tool, arguments.clone())
            .await
            .expect_err("read-only");
        assert!(error.to_string().contains("read-only"), "{tool}: {error}");
    }
    let handbook =
        std::fs::read_to_string(fixture.dir.path().join("shared/handbook.md")).expect("handbook");
    assert_eq!(handbook, "# Handbook\nBe kind.\n");
    // A dry run only reads, so it is allowed.
    let diff = fixture
        .call(
            "acme",
            "edit_file",
            json!({ "path": "shared/handbook.md", "edits": [{ "oldText": "kind", "newText": "brief" }], "dryRun": true }),
        )
        .await
        .expect("dry run");
    assert!(
        diff["structured"]["diff"]
            .as_str()
            .unwrap_or("")
            .contains("+Be brief.")
    );
}

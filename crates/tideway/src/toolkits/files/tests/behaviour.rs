//! What each files tool does for a caller who stays inside the roots: reads whole,
//! by head and tail and in other encodings, media as image content, atomic writes
//! that refuse to clobber, edits with a diff, listings, trees, searches by name and
//! content with their caps, moves and deletes, and who may call what.

use serde_json::json;
use tideway_core::context::Role;

use super::{Fixture, ctx};

#[tokio::test]
async fn text_is_read_whole_by_head_or_tail_and_in_its_encoding() {
    let fixture = Fixture::new();
    let home = fixture.home("acme");
    let lines: String = (1..=10).map(|n| format!("line {n}\n")).collect();
    std::fs::write(home.join("ten.txt"), &lines).expect("write");
    let whole = fixture
        .call("acme", "read_text_file", json!({"path": "home/ten.txt"}))
        .await
        .expect("read");
    assert_eq!(whole["structured"]["text"], lines.as_str());
    assert_eq!(whole["structured"]["encoding"], "UTF-8");
    assert_eq!(whole["structured"]["partial"], false);
    assert_eq!(whole["content"][0]["text"], lines.as_str());
    let head = fixture
        .call(
            "acme",
            "read_text_file",
            json!({"path": "home/ten.txt", "head": 2}),
        )
        .await
        .expect("head");
    assert_eq!(head["structured"]["text"], "line 1\nline 2\n");
    assert_eq!(head["structured"]["partial"], true);
    let tail = fixture
        .call(
            "acme",
            "read_text_file",
            json!({"path": "home/ten.txt", "tail": 3}),
        )
        .await
        .expect("tail");
    assert_eq!(tail["structured"]["text"], "line 8\nline 9\nline 10\n");
    let error = fixture
        .call(
            "acme",
            "read_text_file",
            json!({"path": "home/ten.txt", "head": 1, "tail": 1}),
        )
        .await
        .expect_err("both");
    assert!(error.to_string().contains("head or tail"), "{error}");

    // UTF-16 with a byte order mark, and Latin-1 without one.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("héllo".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(home.join("utf16.txt"), utf16).expect("write");
    let read = fixture
        .call("acme", "read_text_file", json!({"path": "home/utf16.txt"}))
        .await
        .expect("utf16");
    assert_eq!(read["structured"]["text"], "héllo");
    assert_eq!(read["structured"]["encoding"], "UTF-16LE");
    std::fs::write(
        home.join("latin.txt"),
        b"caf\xe9 cr\xe8me br\xfbl\xe9e, d\xe9j\xe0 vu",
    )
    .expect("write");
    let read = fixture
        .call("acme", "read_text_file", json!({"path": "home/latin.txt"}))
        .await
        .expect("latin");
    assert_eq!(read["structured"]["text"], "café crème brûlée, déjà vu");
    std::fs::write(home.join("blob.bin"), [0u8, 1, 2, 3]).expect("write");
    let error = fixture
        .call("acme", "read_text_file", json!({"path": "home/blob.bin"}))
        .await
        .expect_err("binary");
    assert!(error.to_string().contains("read_media_file"), "{error}");
}

#[tokio::test]
async fn reads_past_the_cap_are_refused_or_cut_to_whole_lines() {
    let fixture = Fixture::with(|config| config.max_read_bytes = 64);
    let home = fixture.home("acme");
    let lines: String = (1..=20).map(|n| format!("line {n:02}\n")).collect();
    std::fs::write(home.join("long.txt"), &lines).expect("write");
    let error = fixture
        .call("acme", "read_text_file", json!({"path": "home/long.txt"}))
        .await
        .expect_err("too large");
    assert!(error.to_string().contains("head or tail"), "{error}");
    let tail = fixture
        .call(
            "acme",
            "read_text_file",
            json!({"path": "home/long.txt", "tail": 100}),
        )
        .await
        .expect("tail");
    let text = tail["structured"]["text"].as_str().expect("text");
    assert!(
        text.ends_with("line 20\n") && text.starts_with("line "),
        "{text}"
    );
    assert!(text.len() <= 64);
    assert_eq!(tail["structured"]["partial"], true);
}

#[tokio::test]
async fn an_image_comes_back_as_image_content() {
    let fixture = Fixture::new();
    let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0];
    std::fs::write(fixture.home("acme").join("logo.png"), png).expect("write");
    let read = fixture
        .call("acme", "read_media_file", json!({"path": "home/logo.png"}))
        .await
        .expect("media");
    assert_eq!(read["content"][0]["type"], "image");
    assert_eq!(read["content"][0]["mimeType"], "image/png");
    assert_eq!(read["structured"]["size"], 10);
    assert_eq!(read["structured"]["data"], "iVBORw0KGgoAAA==");
}

#[tokio::test]
async fn writes_create_folders_refuse_to_clobber_and_replace_when_asked() {
    let fixture = Fixture::new();
    let written = fixture
        .call(
            "acme",
            "write_file",
            json!({"path": "home/a/b/c.txt", "content": "one"}),
        )
        .await
        .expect("write");
    assert_eq!(written["structured"]["replaced"], false);
    let file = fixture.home("acme").join("a/b/c.txt");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "one");
    let error = fixture
        .call(
            "acme",
            "write_file",
            json!({"path": "home/a/b/c.txt", "content": "two"}),
        )
        .await
        .expect_err("exists");
    assert!(error.to_string().contains("overwrite: true"), "{error}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "one");
    let replaced = fixture
        .call(
            "acme",
            "write_file",
            json!({"path": "home/a/b/c.txt", "content": "two", "overwrite": true}),
        )
        .await
        .expect("replace");
    assert_eq!(replaced["structured"]["replaced"], true);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "two");
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(fixture.home("acme").join("a/b"))
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["c.txt"]);
    let fixture = Fixture::with(|config| config.max_write_bytes = 4);
    let error = fixture
        .call(
            "acme",
            "write_file",
            json!({"path": "home/x.txt", "content": "12345"}),
        )
        .await
        .expect_err("too large");
    assert!(error.to_string().contains("content"), "{error}");
}

#[tokio::test]
async fn edits_apply_exact_text_once_and_show_a_diff() {
    let fixture = Fixture::new();
    let file = fixture.home("acme").join("config.yml");
    std::fs::write(&file, "name: tideway\nport: 8080\nmode: dev\n").expect("write");
    let edit = json!({"path": "home/config.yml", "edits": [
        {"oldText": "port: 8080", "newText": "port: 9090"},
        {"oldText": "mode: dev", "newText": "mode: prod"}
    ], "dryRun": true});
    let preview = fixture
        .call("acme", "edit_file", edit.clone())
        .await
        .expect("dry run");
    let diff = preview["structured"]["diff"].as_str().expect("diff");
    assert!(
        diff.starts_with("--- home/config.yml\n+++ home/config.yml\n"),
        "{diff}"
    );
    assert!(
        diff.contains("\n-port: 8080\n") && diff.contains("\n+port: 9090\n"),
        "{diff}"
    );
    assert!(diff.contains("\n name: tideway\n"), "context lines: {diff}");
    assert!(diff.contains("+mode: prod"), "{diff}");
    assert_eq!(preview["structured"]["applied"], false);
    assert!(
        std::fs::read_to_string(&file)
            .expect("read")
            .contains("8080")
    );
    let mut apply = edit;
    apply["dryRun"] = json!(false);
    fixture
        .call("acme", "edit_file", apply)
        .await
        .expect("edit");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "name: tideway\nport: 9090\nmode: prod\n"
    );
    let error = fixture
        .call(
            "acme",
            "edit_file",
            json!({"path": "home/config.yml", "edits": [{"oldText": "absent", "newText": "x"}]}),
        )
        .await
        .expect_err("missing");
    assert!(error.to_string().contains("edits[0].oldText"), "{error}");
    std::fs::write(&file, "a\na\n").expect("write");
    let error = fixture
        .call(
            "acme",
            "edit_file",
            json!({"path": "home/config.yml", "edits": [{"oldText": "a", "newText": "b"}]}),
        )
        .await
        .expect_err("twice");
    assert!(error.to_string().contains("occurs 2 times"), "{error}");
}

#[tokio::test]
async fn folders_are_listed_walked_and_searched_within_caps() {
    let fixture = Fixture::with(|config| config.max_grep_matches = 3);
    let home = fixture.home("acme");
    for (path, content) in [
        ("docs/guide.md", "# Guide\nInstall Tideway.\n"),
        ("docs/api/reference.md", "GET /health\nGET /ready\n"),
        ("src/main.rs", "fn main() {}\n"),
        ("node_modules/pkg/index.js", "module.exports = 1;\n"),
        ("big.log", "ERROR one\nERROR two\nERROR three\nERROR four\n"),
    ] {
        let file = home.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("dirs");
        std::fs::write(file, content).expect("write");
    }
    let listing = fixture
        .call("acme", "list_directory", json!({"path": "home"}))
        .await
        .expect("list");
    assert_eq!(
        listing["content"][0]["text"],
        "[FILE] big.log\n[DIR] docs\n[DIR] node_modules\n[DIR] src"
    );
    let sized = fixture
        .call(
            "acme",
            "list_directory_with_sizes",
            json!({"path": "home", "sortBy": "size"}),
        )
        .await
        .expect("sizes");
    assert_eq!(sized["structured"]["files"], 1);
    assert_eq!(sized["structured"]["folders"], 3);
    assert_eq!(sized["structured"]["total_bytes"], 43);
    let tree = fixture
        .call(
            "acme",
            "directory_tree",
            json!({"path": "home", "excludePatterns": ["node_modules"]}),
        )
        .await
        .expect("tree");
    let top: Vec<&str> = tree["structured"]["tree"]
        .as_array()
        .expect("tree")
        .iter()
        .filter_map(|node| node["name"].as_str())
        .collect();
    assert_eq!(top, ["big.log", "docs", "src"]);
    let docs = &tree["structured"]["tree"][1];
    assert_eq!(docs["children"][0]["name"], "api");
    assert_eq!(docs["children"][0]["children"][0]["name"], "reference.md");
    let shallow = fixture
        .call(
            "acme",
            "directory_tree",
            json!({"path": "home", "max_depth": 1}),
        )
        .await
        .expect("tree");
    assert!(shallow["structured"]["tree"][1].get("children").is_none());
    let found = fixture
        .call(
            "acme",
            "search_files",
            json!({"path": "home", "pattern": "*.md"}),
        )
        .await
        .expect("search");
    assert_eq!(
        found["structured"]["paths"],
        json!(["home/docs/api/reference.md", "home/docs/guide.md"])
    );
    let found = fixture
        .call(
            "acme",
            "search_files",
            json!({"path": "home/docs", "pattern": "api/**"}),
        )
        .await
        .expect("search");
    assert_eq!(
        found["structured"]["paths"],
        json!(["home/docs/api/reference.md"])
    );
    let grep = fixture
        .call(
            "acme",
            "grep_files",
            json!({"path": "home", "pattern": "^GET /h", "include": "*.md"}),
        )
        .await
        .expect("grep");
    assert_eq!(
        grep["structured"]["matches"][0]["path"],
        "home/docs/api/reference.md"
    );
    assert_eq!(grep["structured"]["matches"][0]["line_number"], 1);
    let capped = fixture
        .call(
            "acme",
            "grep_files",
            json!({"path": "home", "pattern": "error", "case_insensitive": true}),
        )
        .await
        .expect("grep");
    assert_eq!(
        capped["structured"]["matches"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(capped["structured"]["truncated"], true);
    let error = fixture
        .call(
            "acme",
            "grep_files",
            json!({"path": "home", "pattern": "(unclosed"}),
        )
        .await
        .expect_err("bad regex");
    assert!(error.to_string().contains("pattern"), "{error}");
    let error = fixture
        .call(
            "acme",
            "search_files",
            json!({"path": "home", "pattern": "[z-a]"}),
        )
        .await
        .expect_err("bad glob");
    assert!(error.to_string().contains("pattern"), "{error}");
}

#[tokio::test]
async fn moves_and_deletes_stay_in_the_root_and_ask_before_losing_data() {
    let fixture = Fixture::new();
    let home = fixture.home("acme");
    std::fs::write(home.join("draft.txt"), "draft").expect("write");
    std::fs::write(home.join("final.txt"), "final").expect("write");
    let error = fixture
        .call(
            "acme",
            "move_file",
            json!({"source": "home/draft.txt", "destination": "home/final.txt"}),
        )
        .await
        .expect_err("exists");
    assert!(error.to_string().contains("overwrite: true"), "{error}");
    fixture
        .call(
            "acme",
            "move_file",
            json!({"source": "home/draft.txt", "destination": "home/archive/2026/draft.txt"}),
        )
        .await
        .expect("move");
    assert_eq!(
        std::fs::read_to_string(home.join("archive/2026/draft.txt")).expect("moved"),
        "draft"
    );
    let error = fixture
        .call("acme", "delete_file", json!({"path": "home/archive"}))
        .await
        .expect_err("not empty");
    assert!(error.to_string().contains("recursive: true"), "{error}");
    fixture
        .call(
            "acme",
            "delete_file",
            json!({"path": "home/archive", "recursive": true}),
        )
        .await
        .expect("delete");
    assert!(!home.join("archive").exists());
    let info = fixture
        .call("acme", "get_file_info", json!({"path": "home/final.txt"}))
        .await
        .expect("info");
    assert_eq!(info["structured"]["kind"], "file");
    assert_eq!(info["structured"]["size"], 5);
    assert_eq!(info["structured"]["writable"], true);
    let made = fixture
        .call(
            "acme",
            "create_directory",
            json!({"path": "home/new/deeper"}),
        )
        .await
        .expect("mkdir");
    assert_eq!(made["structured"]["outcome"], "created");
    let again = fixture
        .call(
            "acme",
            "create_directory",
            json!({"path": "home/new/deeper"}),
        )
        .await
        .expect("mkdir");
    assert_eq!(again["structured"]["outcome"], "existed");
}

#[tokio::test]
async fn viewers_read_and_only_operators_change_files() {
    let fixture = Fixture::new();
    std::fs::write(fixture.home("acme").join("a.txt"), "a").expect("write");
    let viewer = ctx("acme", Role::Viewer);
    fixture
        .call_as(&viewer, "read_text_file", json!({"path": "home/a.txt"}))
        .await
        .expect("viewers read");
    for (tool, arguments) in [
        ("write_file", json!({"path": "home/b.txt", "content": "b"})),
        ("delete_file", json!({"path": "home/a.txt"})),
        (
            "edit_file",
            json!({"path": "home/a.txt", "edits": [{"oldText": "a", "newText": "b"}]}),
        ),
        (
            "move_file",
            json!({"source": "home/a.txt", "destination": "home/c.txt"}),
        ),
        ("create_directory", json!({"path": "home/d"})),
    ] {
        let error = fixture
            .call_as(&viewer, tool, arguments)
            .await
            .expect_err("viewer");
        assert!(
            matches!(error, tideway_core::HubError::Forbidden(_)),
            "{tool}: {error}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(fixture.home("acme").join("a.txt")).expect("read"),
        "a"
    );
}

#[tokio::test]
async fn files_are_resources_read_as_text_or_blobs_within_the_roots() {
    use tideway_core::{Scope, mcp::ResourceContents};
    let fixture = Fixture::new();
    let home = fixture.home("acme");
    std::fs::write(home.join("guide book.md"), "# Guide\n").expect("write");
    std::fs::write(home.join("logo.png"), [0x89, b'P', b'N', b'G', 0, 0]).expect("write");
    let acme = ctx("acme", Role::Viewer);
    let listed = fixture
        .hub
        .list_resources(&acme, &Scope::All)
        .await
        .expect("list");
    let uris: Vec<&str> = listed
        .iter()
        .map(|resource| resource.uri.as_str())
        .collect();
    assert!(uris.contains(&"file://home/guide book.md"), "{uris:?}");
    assert!(uris.contains(&"file://shared/handbook.md"), "{uris:?}");
    let read = fixture
        .hub
        .read_resource(&acme, &Scope::All, "file://home/guide%20book.md")
        .await
        .expect("read");
    match &read[0] {
        ResourceContents::TextResourceContents {
            text, mime_type, ..
        } => {
            assert_eq!(text, "# Guide\n");
            assert_eq!(mime_type.as_deref(), Some("text/markdown"));
        }
        other => panic!("text expected: {other:?}"),
    }
    let image = fixture
        .hub
        .read_resource(&acme, &Scope::All, "file://home/logo.png")
        .await
        .expect("read");
    assert!(
        matches!(&image[0], ResourceContents::BlobResourceContents { blob, .. } if blob == "iVBORwAA"),
        "{image:?}"
    );
    for uri in [
        "file://home/../../outside/secret.txt",
        "file:///etc/passwd",
        "file://shared/../home/x",
    ] {
        let error = fixture
            .hub
            .read_resource(&acme, &Scope::All, uri)
            .await
            .expect_err(uri);
        assert!(!error.to_string().contains(super::SECRET), "{uri}: {error}");
    }
    // globex lists neither acme's files nor the shared root.
    let globex = fixture
        .hub
        .list_resources(&ctx("globex", Role::Viewer), &Scope::All)
        .await
        .expect("list");
    assert!(
        globex
            .iter()
            .all(|resource| !resource.uri.starts_with("file://shared/")
                && !resource.uri.contains("guide"))
    );
}

#[tokio::test]
async fn what_a_crashed_write_left_is_hidden_from_listings() {
    let fixture = Fixture::new();
    let home = fixture.home("acme");
    std::fs::create_dir_all(home.join("deep")).expect("dirs");
    std::fs::write(home.join(".tideway-0c.partial"), "half a write").expect("write");
    std::fs::write(home.join("deep/.tideway-0d.partial"), "half a write").expect("write");
    std::fs::write(home.join("kept.txt"), "kept").expect("write");
    let listing = fixture
        .call("acme", "list_directory", json!({"path": "home"}))
        .await
        .expect("list");
    assert_eq!(listing["content"][0]["text"], "[DIR] deep\n[FILE] kept.txt");
    let found = fixture
        .call(
            "acme",
            "search_files",
            json!({"path": "home", "pattern": "*.partial"}),
        )
        .await
        .expect("search");
    assert_eq!(found["structured"]["paths"], json!([]));
}

#[test]
fn what_a_crashed_write_left_is_swept_once_old() {
    // No toolkit here: its own sweep at start would race this one.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data/files/acme");
    std::fs::create_dir_all(home.join("deep/er")).expect("dirs");
    let old = [
        home.join(".tideway-0a.partial"),
        home.join("deep/er/.tideway-0b.partial"),
    ];
    let fresh = home.join(".tideway-0c.partial");
    for path in old.iter().chain([&fresh]) {
        std::fs::write(path, "half a write").expect("write");
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for path in &old {
        std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|file| file.set_modified(two_hours_ago))
            .expect("age it");
    }
    std::fs::write(home.join("kept.txt"), "kept").expect("write");
    let roots = super::super::access::Roots::new(
        super::super::settings::FilesConfig::default(),
        &dir.path().join("data"),
    );
    assert_eq!(
        roots.sweep_partials(std::time::Duration::from_secs(3600)),
        2
    );
    assert!(old.iter().all(|path| !path.exists()));
    assert!(
        fresh.exists(),
        "a write that may still be running is left alone"
    );
    assert!(home.join("kept.txt").exists());
}

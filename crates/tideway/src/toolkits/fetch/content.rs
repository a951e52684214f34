//! What a fetched body becomes for a model: HTML turned into Markdown from its main
//! content (the readability algorithm drops navigation, scripts and boilerplate),
//! JSON pretty-printed, other text decoded from its charset, and binary content
//! refused by type. Then one window of it, by characters, so a long page is read in
//! parts.

use encoding_rs::Encoding;

/// What a body is, from its Content-Type and, when that is missing, its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Html,
    Json,
    Text,
    Binary,
}

/// The media type without parameters, lower-case.
pub fn media_type(content_type: Option<&str>) -> Option<String> {
    content_type
        .and_then(|value| value.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase())
        .filter(|media| !media.is_empty())
}

pub fn classify(content_type: Option<&str>, body: &[u8]) -> Kind {
    match media_type(content_type).as_deref() {
        Some("text/html" | "application/xhtml+xml") => Kind::Html,
        Some(media) if media == "application/json" || media.ends_with("+json") => Kind::Json,
        Some(media)
            if media.starts_with("text/")
                || media.ends_with("+xml")
                || matches!(
                    media,
                    "application/xml"
                        | "application/javascript"
                        | "application/ecmascript"
                        | "application/x-www-form-urlencoded"
                        | "application/yaml"
                        | "application/x-yaml"
                        | "application/toml"
                        | "application/sql"
                        | "application/graphql"
                        | "application/x-ndjson"
                ) =>
        {
            Kind::Text
        }
        Some(_) => Kind::Binary,
        None => sniff(body),
    }
}

/// A body without a Content-Type: HTML if it starts like a document, text if it has
/// no NUL byte in its first kilobytes and decodes, binary otherwise.
fn sniff(body: &[u8]) -> Kind {
    let head = &body[..body.len().min(4096)];
    if head.contains(&0) {
        return Kind::Binary;
    }
    let start = String::from_utf8_lossy(&head[..head.len().min(512)]).to_ascii_lowercase();
    let start = start.trim_start();
    if start.starts_with("<!doctype html") || start.starts_with("<html") {
        Kind::Html
    } else {
        Kind::Text
    }
}

/// The body as text: in the charset the Content-Type names, else UTF-8 when it is
/// valid, else the encoding a detector guesses.
pub fn decode(content_type: Option<&str>, body: &[u8]) -> String {
    let declared = content_type.and_then(|value| {
        value.split(';').skip(1).find_map(|parameter| {
            let (name, label) = parameter.split_once('=')?;
            (name.trim().eq_ignore_ascii_case("charset"))
                .then(|| Encoding::for_label(label.trim().trim_matches('"').as_bytes()))
                .flatten()
        })
    });
    let encoding = match declared {
        Some(encoding) => encoding,
        None => match std::str::from_utf8(body) {
            Ok(text) => return text.to_string(),
            Err(_) => {
                let mut detector =
                    chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
                detector.feed(body, true);
                detector.guess(None, chardetng::Utf8Detection::Deny)
            }
        },
    };
    let (text, _, _) = encoding.decode(body);
    text.into_owned()
}

/// Elements that are never content.
const NOT_CONTENT: &[&str] = &[
    "script", "style", "noscript", "template", "head", "meta", "link", "nav", "header", "footer",
    "aside", "form", "button", "svg", "iframe", "object", "embed", "canvas", "dialog",
];

/// The page's main content as Markdown, titled. When the readability algorithm finds
/// no article (a listing, a form, a near-empty page), the whole body is converted
/// without the elements that are never content.
pub fn html_to_markdown(html: &str, url: &str) -> String {
    let config = dom_smoothie::Config {
        text_mode: dom_smoothie::TextMode::Markdown,
        max_elements_to_parse: 200_000,
        ..Default::default()
    };
    let article = dom_smoothie::Readability::new(html, Some(url), Some(config))
        .and_then(|mut readability| readability.parse());
    match article {
        Ok(article) if !article.text_content.trim().is_empty() => {
            let text = article.text_content.trim();
            let title = article.title.trim();
            if title.is_empty() || text.starts_with('#') && text.contains(title) {
                text.to_string()
            } else {
                format!("# {title}\n\n{text}")
            }
        }
        _ => {
            let document = dom_query::Document::from(html);
            let body = document.select("body");
            let markdown = match body.nodes().first() {
                Some(node) => node.md(Some(NOT_CONTENT)),
                None => document.md(Some(NOT_CONTENT)),
            };
            markdown.trim().to_string()
        }
    }
}

/// JSON pretty-printed; text that does not parse is returned as it is.
pub fn pretty_json(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.to_string()),
        Err(_) => text.to_string(),
    }
}

/// One window of a text, by characters: the part from `start` of at most `length`
/// characters, the text's length in characters, and where the next window starts if
/// anything is left.
pub struct Window {
    pub text: String,
    pub total: usize,
    pub next: Option<usize>,
}

pub fn window(text: &str, start: usize, length: usize) -> Window {
    let total = text.chars().count();
    let part: String = text.chars().skip(start).take(length).collect();
    let end = start.saturating_add(part.chars().count());
    Window {
        text: part,
        total,
        next: (end < total).then_some(end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_told_apart_by_type_and_bytes() {
        assert_eq!(classify(Some("text/html; charset=utf-8"), b""), Kind::Html);
        assert_eq!(classify(Some("application/problem+json"), b""), Kind::Json);
        assert_eq!(classify(Some("text/csv"), b""), Kind::Text);
        assert_eq!(classify(Some("application/rss+xml"), b""), Kind::Text);
        assert_eq!(classify(Some("image/png"), b"text"), Kind::Binary);
        assert_eq!(classify(None, b"  <!DOCTYPE html><p>x"), Kind::Html);
        assert_eq!(classify(None, b"plain words"), Kind::Text);
        assert_eq!(classify(None, b"\x89PNG\r\n\x1a\n\0\0"), Kind::Binary);
    }

    #[test]
    fn text_is_decoded_in_its_charset() {
        assert_eq!(
            decode(Some("text/plain; charset=ISO-8859-1"), b"caf\xe9"),
            "café"
        );
        assert_eq!(decode(Some("text/plain"), "café".as_bytes()), "café");
        assert_eq!(decode(None, "naïve".as_bytes()), "naïve");
    }

    #[test]
    fn windows_cover_the_text_without_gaps_on_character_boundaries() {
        let text = "añb€c".repeat(7);
        let mut start = 0;
        let mut joined = String::new();
        loop {
            let part = window(&text, start, 4);
            assert_eq!(part.total, 35);
            joined.push_str(&part.text);
            match part.next {
                Some(next) => start = next,
                None => break,
            }
        }
        assert_eq!(joined, text);
        assert_eq!(window(&text, 100, 4).text, "");
    }

    #[test]
    fn an_article_becomes_markdown_without_its_navigation_or_scripts() {
        let paragraph = "Tideway connects a team's data to agents through one guarded call path. ";
        let html = format!(
            "<html><head><title>Release notes</title><script>var secret='SCRIPT';</script></head>\
             <body><nav><a href='/'>NAVLINK Home</a></nav><article><h1>Release notes</h1>\
             <p>{}</p><h2>Fixes</h2><ul><li>first <strong>fix</strong></li></ul>\
             <p>See <a href='/docs'>the docs</a>.</p></article><footer>FOOTER text</footer></body></html>",
            paragraph.repeat(8)
        );
        let markdown = html_to_markdown(&html, "https://example.com/notes");
        assert!(markdown.contains("Release notes"), "{markdown}");
        assert!(markdown.contains("## Fixes"), "{markdown}");
        assert!(markdown.contains("**fix**"), "{markdown}");
        assert!(
            markdown.contains("[the docs](https://example.com/docs)"),
            "{markdown}"
        );
        for gone in ["SCRIPT", "NAVLINK", "FOOTER", "<p>"] {
            assert!(!markdown.contains(gone), "{gone} in {markdown}");
        }
    }
}

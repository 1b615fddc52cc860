//! The pages and their assets, embedded from web/ at build time and put together once:
//! each page rendered in each language (its strings filled in, the strings its script
//! uses embedded as JSON), each asset under a name that carries its content's hash.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::language::Language;

/// A page for browsers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Page {
    Concerts,
    WaitingRoom,
    Book,
}

impl Page {
    pub const ALL: [Page; 3] = [Page::Concerts, Page::WaitingRoom, Page::Book];

    /// The page's own markup (inside the layout's `<main>`), its title's string and its script.
    fn source(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Page::Concerts => (
                include_str!("../../web/index.html"),
                "concerts.title",
                "index.js",
            ),
            Page::WaitingRoom => (
                include_str!("../../web/waiting-room.html"),
                "wr.title",
                "waiting-room.js",
            ),
            Page::Book => (include_str!("../../web/book.html"), "book.title", "book.js"),
        }
    }
}

const LAYOUT: &str = include_str!("../../web/layout.html");
const STRINGS: &str = include_str!("../../web/strings.json");

/// Every asset: its file name in web/, content type and content.
const ASSETS: [(&str, &str, &str); 5] = [
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../web/app.css"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/common.js"),
    ),
    (
        "index.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/index.js"),
    ),
    (
        "waiting-room.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/waiting-room.js"),
    ),
    (
        "book.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/book.js"),
    ),
];

/// A body ready to send, with its entity tag (quoted).
pub struct Rendered {
    pub body: Bytes,
    pub etag: String,
    pub content_type: &'static str,
}

impl Rendered {
    fn new(body: impl Into<Bytes>, content_type: &'static str) -> Rendered {
        let body = body.into();
        Rendered {
            etag: format!("\"{}\"", short_hash(&body)),
            body,
            content_type,
        }
    }
}

/// The whole site, built once.
pub struct Site {
    pages: BTreeMap<(Page, Language), Rendered>,
    /// Hashed name (`app.0123456789ab.css`) -> the asset.
    assets: BTreeMap<String, Rendered>,
}

impl Site {
    /// The site, built on first use (a unit test builds it, so a broken web/ fails the
    /// tests, not a request).
    pub fn get() -> &'static Site {
        static SITE: LazyLock<Site> =
            LazyLock::new(|| Site::build().expect("web/ renders (checked by the unit tests)"));
        &SITE
    }

    pub fn page(&self, page: Page, language: Language) -> &Rendered {
        &self.pages[&(page, language)]
    }

    /// The asset served at `/assets/{name}`, when `name` is a current hashed name.
    pub fn asset(&self, name: &str) -> Option<&Rendered> {
        self.assets.get(name)
    }

    fn build() -> Result<Site, String> {
        let strings: BTreeMap<String, BTreeMap<String, String>> =
            serde_json::from_str(STRINGS).map_err(|e| format!("web/strings.json: {e}"))?;
        let mut asset_paths = BTreeMap::new();
        let mut assets = BTreeMap::new();
        for (file, content_type, content) in ASSETS {
            let hashed = hashed_name(file, content.as_bytes());
            asset_paths.insert(file, format!("/assets/{hashed}"));
            assets.insert(hashed, Rendered::new(content, content_type));
        }
        let mut pages = BTreeMap::new();
        for language in Language::ALL {
            let words = strings
                .get(language.tag())
                .ok_or_else(|| format!("web/strings.json has no {:?}", language.tag()))?;
            for page in Page::ALL {
                let (main, title, script) = page.source();
                let template = LAYOUT
                    .replace("{{title}}", &format!("{{{{t:{title}}}}}"))
                    .replace("{{script}}", &format!("{{{{asset:{script}}}}}"))
                    .replace("{{main}}", main);
                let html = render(&template, language, words, &asset_paths)
                    .map_err(|e| format!("{page:?} in {}: {e}", language.tag()))?;
                pages.insert(
                    (page, language),
                    Rendered::new(html, "text/html; charset=utf-8"),
                );
            }
        }
        Ok(Site { pages, assets })
    }
}

/// Fills a template's `{{lang}}`, `{{strings}}`, `{{t:KEY}}` and `{{asset:FILE}}`.
fn render(
    template: &str,
    language: Language,
    words: &BTreeMap<String, String>,
    asset_paths: &BTreeMap<&str, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| format!("an unclosed {{{{ at {:?}", &rest[start..]))?
            + start;
        let placeholder = &rest[start + 2..end];
        match placeholder.split_once(':') {
            None if placeholder == "lang" => out.push_str(language.tag()),
            None if placeholder == "strings" => out.push_str(&script_json(words)?),
            Some(("t", key)) => out.push_str(&escape_html(
                words.get(key).ok_or_else(|| format!("no string {key:?}"))?,
            )),
            Some(("asset", file)) => out.push_str(
                asset_paths
                    .get(file)
                    .ok_or_else(|| format!("no asset {file:?}"))?,
            ),
            _ => return Err(format!("an unknown placeholder {{{{{placeholder}}}}}")),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The strings as JSON to put inside `<script type="application/json">`: with every `<`
/// written `\u003c`, nothing in them can close the element.
fn script_json(words: &BTreeMap<String, String>) -> Result<String, String> {
    let json = serde_json::to_string(words).map_err(|e| e.to_string())?;
    Ok(json.replace('<', "\\u003c"))
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The first 12 hex digits of the content's SHA-256.
fn short_hash(content: &[u8]) -> String {
    Sha256::digest(content)[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `app.css` -> `app.<hash>.css`.
fn hashed_name(file: &str, content: &[u8]) -> String {
    let (stem, extension) = file.rsplit_once('.').unwrap_or((file, ""));
    format!("{stem}.{}.{extension}", short_hash(content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_in_every_language_with_nothing_left_unfilled() {
        let site = Site::build().unwrap();
        for language in Language::ALL {
            for page in Page::ALL {
                let html = std::str::from_utf8(&site.page(page, language).body).unwrap();
                assert!(!html.contains("{{"), "{page:?} {language:?}: {html}");
                assert!(
                    html.contains(&format!("<html lang=\"{}\">", language.tag())),
                    "{page:?}"
                );
            }
        }
    }

    #[test]
    fn both_languages_have_the_same_strings() {
        let strings: BTreeMap<String, BTreeMap<String, String>> =
            serde_json::from_str(STRINGS).unwrap();
        let keys = |tag: &str| strings[tag].keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys("en"), keys("ko"));
        assert_eq!(strings.len(), Language::ALL.len());
    }

    #[test]
    fn every_string_the_scripts_ask_for_exists() {
        let strings: BTreeMap<String, BTreeMap<String, String>> =
            serde_json::from_str(STRINGS).unwrap();
        let mut asked = 0;
        for (file, _, script) in ASSETS.iter().filter(|(f, _, _)| f.ends_with(".js")) {
            // t("key"...) and the keys built from a prefix (t(`status.${...}`)), where t
            // is a name of its own (not get("Date")).
            let calls = |opening: &'static str| {
                script.match_indices(opening).filter(|(i, _)| {
                    !script[..*i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.')
                })
            };
            for (i, _) in calls("t(\"") {
                let key = script[i + 3..].split('"').next().unwrap();
                assert!(strings["en"].contains_key(key), "{file} asks for {key:?}");
                asked += 1;
            }
            for (i, _) in calls("t(`") {
                let prefix = script[i + 3..].split("${").next().unwrap();
                assert!(
                    strings["en"].keys().any(|k| k.starts_with(prefix)),
                    "{file} asks for {prefix:?}..."
                );
            }
            // Keys handed to t() later: gone("book.ended.heading", ...).
            for prefix in ["\"book.", "\"wr."] {
                for (i, _) in script.match_indices(prefix) {
                    let key = script[i + 1..].split('"').next().unwrap();
                    assert!(strings["en"].contains_key(key), "{file} names {key:?}");
                }
            }
        }
        assert!(asked > 40, "{asked}");
    }

    #[test]
    fn assets_are_named_by_their_content() {
        let site = Site::build().unwrap();
        let html = std::str::from_utf8(&site.page(Page::Book, Language::English).body).unwrap();
        for (file, _, content) in ASSETS {
            let (stem, _) = file.rsplit_once('.').unwrap();
            let name = hashed_name(file, content.as_bytes());
            assert!(name.starts_with(&format!("{stem}.")), "{name}");
            assert_eq!(site.asset(&name).unwrap().body.as_ref(), content.as_bytes());
            if ["app.css", "common.js", "book.js"].contains(&file) {
                assert!(html.contains(&format!("/assets/{name}")), "{file}");
            }
        }
        assert!(site.asset("app.css").is_none());
        assert_ne!(hashed_name("a.js", b"1"), hashed_name("a.js", b"2"));
    }

    #[test]
    fn strings_are_escaped_where_they_go() {
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let words = BTreeMap::from([("k".to_string(), "</script><b>".to_string())]);
        assert_eq!(
            script_json(&words).unwrap(),
            r#"{"k":"\u003c/script>\u003cb>"}"#
        );
        let paths = BTreeMap::new();
        assert!(render("{{t:missing}}", Language::English, &words, &paths).is_err());
        assert!(render("{{nope}}", Language::English, &words, &paths).is_err());
        assert!(render("{{t:k", Language::English, &words, &paths).is_err());
    }
}

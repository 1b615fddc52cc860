//! Picks the pages' language from `Accept-Language`: Korean or English, English when the
//! browser names neither.

/// A language the pages are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Language {
    English,
    Korean,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::English, Language::Korean];

    /// The BCP 47 tag (also the key of web/strings.json).
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Korean => "ko",
        }
    }

    fn from_primary_subtag(subtag: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|language| subtag.eq_ignore_ascii_case(language.tag()))
    }
}

/// The language to answer in: the one the header ranks highest (by `q`, then by order),
/// matched on the primary subtag (`ko-KR` is Korean); English when it names neither, when
/// `*` comes first, or when the header is absent or unreadable.
pub fn negotiate(accept_language: Option<&str>) -> Language {
    let Some(header) = accept_language else {
        return Language::English;
    };
    let mut best: Option<(u16, Language)> = None;
    for entry in header.split(',') {
        let mut parts = entry.split(';');
        let range = parts.next().unwrap_or("").trim();
        let quality = parts
            .find_map(|param| {
                let (name, value) = param.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| quality(value.trim()))
            })
            .unwrap_or(Some(1000));
        let Some(quality) = quality.filter(|q| *q > 0) else {
            continue;
        };
        let primary = range.split('-').next().unwrap_or("");
        let language = if primary == "*" {
            Some(Language::English)
        } else {
            Language::from_primary_subtag(primary)
        };
        if let Some(language) = language {
            if best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, language));
            }
        }
    }
    best.map_or(Language::English, |(_, language)| language)
}

/// A `q` value in thousandths (`0.8` is 800); `None` when it is not a valid qvalue.
fn quality(raw: &str) -> Option<u16> {
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_when_the_browser_ranks_it_first() {
        assert_eq!(negotiate(Some("ko")), Language::Korean);
        assert_eq!(
            negotiate(Some("ko-KR,ko;q=0.9,en-US;q=0.8")),
            Language::Korean
        );
        assert_eq!(negotiate(Some("KO-kr")), Language::Korean);
        assert_eq!(negotiate(Some("en;q=0.5, ko;q=0.6")), Language::Korean);
        assert_eq!(negotiate(Some("fr, ko;q=0.1")), Language::Korean);
    }

    #[test]
    fn english_otherwise() {
        assert_eq!(negotiate(None), Language::English);
        assert_eq!(negotiate(Some("")), Language::English);
        assert_eq!(negotiate(Some("en-GB,ko;q=0.9")), Language::English);
        assert_eq!(negotiate(Some("fr-FR, de")), Language::English);
        assert_eq!(negotiate(Some("*, ko;q=0.5")), Language::English);
        assert_eq!(negotiate(Some("ko;q=0")), Language::English);
        assert_eq!(negotiate(Some("ko;q=2")), Language::English);
        assert_eq!(negotiate(Some("ko;q=abc, en;q=0.1")), Language::English);
        assert_eq!(negotiate(Some(";;,,=")), Language::English);
    }

    #[test]
    fn equal_ranks_go_by_order() {
        assert_eq!(negotiate(Some("ko;q=0.8, en;q=0.8")), Language::Korean);
        assert_eq!(negotiate(Some("en, ko")), Language::English);
    }

    #[test]
    fn qvalues_read_as_thousandths() {
        assert_eq!(quality("1"), Some(1000));
        assert_eq!(quality("1.000"), Some(1000));
        assert_eq!(quality("0.5"), Some(500));
        assert_eq!(quality("0.125"), Some(125));
        assert_eq!(quality("0"), Some(0));
        assert_eq!(quality("1.5"), None);
        assert_eq!(quality("0.1234"), None);
        assert_eq!(quality("-1"), None);
    }
}

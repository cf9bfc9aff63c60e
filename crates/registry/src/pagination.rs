//! Following tag-list pages: `Link: <...>; rel="next"` (RFC 8288) as Docker Hub, GHCR, Quay,
//! ECR and Harbor send it, and the bare `n`/`last` protocol for registries that cap `n` without
//! sending `Link`. Guards against loops and endless walks.

use std::collections::HashSet;

use url::Url;

use crate::error::{Error, ErrorKind, display_url};
use crate::tag_list::Tags;

/// Extracts the `rel="next"` target from a `Link` header value.
pub(crate) fn next_link(header: &str) -> Option<String> {
    // Links are `<uri-reference>; param; param, <uri>; ...`. URIs cannot contain '>' unescaped,
    // so scanning for <...> then its parameters up to the next '<' is safe.
    let mut rest = header;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let target = &after[..end];
        let params_end = after[end + 1..]
            .find('<')
            .map_or(after.len(), |i| end + 1 + i);
        let params = &after[end + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim();
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.trim().to_string());
        }
        rest = &after[params_end..];
    }
    None
}

/// Tracks one tag walk: which pages were asked, the tags gathered (deduplicated, in order).
pub(crate) struct Walk {
    origin: Url,
    max_pages: usize,
    page_size: Option<usize>,
    seen_urls: HashSet<String>,
    seen_tags: HashSet<String>,
    pub(crate) tags: Tags,
    pub(crate) pages: usize,
}

impl Walk {
    /// Starts a walk whose pages must stay on `first`'s origin (scheme, host, port): we attach
    /// credentials to these requests and will not send them elsewhere.
    pub(crate) fn new(first: &Url, max_pages: usize, page_size: Option<usize>) -> Self {
        Walk {
            origin: first.clone(),
            max_pages: max_pages.max(1),
            page_size,
            seen_urls: HashSet::from([first.to_string()]),
            seen_tags: HashSet::new(),
            tags: Tags::new(),
            pages: 0,
        }
    }

    /// Adds one page's tags; returns how many were new.
    pub(crate) fn add_page(&mut self, tags: &[String]) -> usize {
        self.pages += 1;
        let before = self.tags.len();
        for t in tags {
            if !t.is_empty() && self.seen_tags.insert(t.clone()) {
                self.tags.push(t);
            }
        }
        self.tags.len() - before
    }

    /// Decides the next page after `current` returned `page_tags` and maybe a `Link` header.
    /// `Ok(None)` = done.
    pub(crate) fn next(
        &mut self,
        current: &Url,
        link: Option<&str>,
        page_tags: &[String],
        new_tags: usize,
    ) -> Result<Option<Url>, Error> {
        let next = match link {
            Some(link) => {
                let target = next_link(link);
                match target {
                    Some(t) => Some(current.join(&t).map_err(|e| {
                        Error::new(
                            ErrorKind::Protocol,
                            display_url(current),
                            format!("unusable Link target {t:?}: {e}"),
                        )
                    })?),
                    None => None,
                }
            }
            None => self.fallback_next(current, page_tags),
        };
        let Some(next) = next else { return Ok(None) };
        if next.scheme() != self.origin.scheme()
            || next.host_str() != self.origin.host_str()
            || next.port_or_known_default() != self.origin.port_or_known_default()
        {
            return Err(Error::new(
                ErrorKind::Protocol,
                display_url(current),
                format!(
                    "next page {} is on another server; not following it with this registry's credentials",
                    display_url(&next)
                ),
            ));
        }
        if !self.seen_urls.insert(next.to_string()) {
            return Err(Error::new(
                ErrorKind::Protocol,
                display_url(current),
                format!(
                    "pagination loop: next page {} was already fetched",
                    display_url(&next)
                ),
            ));
        }
        if new_tags == 0 && !page_tags.is_empty() {
            return Err(Error::new(
                ErrorKind::Protocol,
                display_url(current),
                "pagination loop: page repeated tags already seen and still points to a next page",
            ));
        }
        if self.pages >= self.max_pages {
            return Err(Error::new(
                ErrorKind::Protocol,
                display_url(current),
                format!(
                    "more than {} pages of tags ({} tags so far); raise max_pages if this repository really has that many",
                    self.max_pages,
                    self.tags.len()
                ),
            ));
        }
        Ok(Some(next))
    }

    /// Without `Link`: when we asked for `n` and got exactly `n`, ask for the page after the
    /// last tag (the distribution spec's `last` parameter).
    fn fallback_next(&self, current: &Url, page_tags: &[String]) -> Option<Url> {
        let n = self.page_size?;
        if n == 0 || page_tags.len() < n {
            return None;
        }
        let last = page_tags.last()?;
        let mut next = current.clone();
        let kept: Vec<(String, String)> = current
            .query_pairs()
            .filter(|(k, _)| k != "n" && k != "last")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        next.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .append_pair("n", &n.to_string())
            .append_pair("last", last);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn link_header_forms() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=x&n=100>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=x&n=100")
        );
        assert_eq!(
            next_link(r#"<https://r/v2/a/tags/list?n=2&last=b>;rel=next"#).as_deref(),
            Some("https://r/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(
            next_link(r#"</prev>; rel="prev", </next>; rel="next""#).as_deref(),
            Some("/next")
        );
        assert_eq!(next_link(r#"</x>; rel="first last""#), None);
        assert_eq!(
            next_link(r#"</x>; rel="prefetch next""#).as_deref(),
            Some("/x")
        );
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn follows_relative_links_and_stops() {
        let first = Url::parse("https://ghcr.io/v2/a/b/tags/list").unwrap();
        let mut w = Walk::new(&first, 10, None);
        let p1 = s(&["1", "2"]);
        let new = w.add_page(&p1);
        let next = w
            .next(
                &first,
                Some(r#"</v2/a/b/tags/list?last=2&n=2>; rel="next""#),
                &p1,
                new,
            )
            .unwrap()
            .unwrap();
        assert_eq!(next.as_str(), "https://ghcr.io/v2/a/b/tags/list?last=2&n=2");
        let p2 = s(&["3"]);
        let new = w.add_page(&p2);
        assert_eq!(w.next(&next, None, &p2, new).unwrap(), None);
        assert_eq!(w.tags, s(&["1", "2", "3"]));
    }

    #[test]
    fn guards() {
        let first = Url::parse("https://r.example/v2/a/tags/list").unwrap();
        // Link back to a page already fetched.
        let mut w = Walk::new(&first, 10, None);
        let p = s(&["1"]);
        let n = w.add_page(&p);
        let e = w
            .next(&first, Some(r#"</v2/a/tags/list>; rel="next""#), &p, n)
            .unwrap_err();
        assert!(e.to_string().contains("loop"), "{e}");
        // A new URL that keeps serving the same tags.
        let mut w = Walk::new(&first, 10, None);
        w.add_page(&p);
        let n2 = w.add_page(&p);
        let e = w
            .next(
                &first,
                Some(r#"</v2/a/tags/list?last=1>; rel="next""#),
                &p,
                n2,
            )
            .unwrap_err();
        assert!(e.to_string().contains("loop"), "{e}");
        // Another origin.
        let mut w = Walk::new(&first, 10, None);
        let n = w.add_page(&p);
        let e = w
            .next(
                &first,
                Some(r#"<https://evil.example/v2/a/tags/list?last=1>; rel="next""#),
                &p,
                n,
            )
            .unwrap_err();
        assert!(e.to_string().contains("another server"), "{e}");
        // Page cap.
        let mut w = Walk::new(&first, 1, None);
        let n = w.add_page(&p);
        let e = w
            .next(
                &first,
                Some(r#"</v2/a/tags/list?last=1>; rel="next""#),
                &p,
                n,
            )
            .unwrap_err();
        assert!(e.to_string().contains("more than 1 pages"), "{e}");
    }

    #[test]
    fn n_last_fallback_without_link() {
        let first = Url::parse("http://127.0.0.1:5000/v2/a/tags/list?n=2").unwrap();
        let mut w = Walk::new(&first, 10, Some(2));
        let p = s(&["a", "b"]);
        let n = w.add_page(&p);
        let next = w.next(&first, None, &p, n).unwrap().unwrap();
        assert_eq!(
            next.as_str(),
            "http://127.0.0.1:5000/v2/a/tags/list?n=2&last=b"
        );
        let p = s(&["c"]);
        let n = w.add_page(&p);
        assert_eq!(w.next(&next, None, &p, n).unwrap(), None);
    }
}

//! Service paths and route placeholders: `users/:userId/messages` matches
//! `users/5/messages` with `route.userId = "5"`, and one extra segment is the id
//! (`route.__id`), as Feathers' router does for `<path>/:__id`.

use serde_json::{Map, Value};

/// Strips leading and trailing slashes; an empty path is the root service `/`.
pub fn normalize_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn segments(path: &str) -> Vec<&str> {
    if path == "/" {
        Vec::new()
    } else {
        path.split('/').collect()
    }
}

/// A registered path, split once into literal and placeholder segments.
#[derive(Debug, Clone)]
pub(crate) struct RoutePattern {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Placeholder(String),
}

impl RoutePattern {
    pub(crate) fn new(path: &str) -> Self {
        let segments = segments(path)
            .into_iter()
            .map(|s| match s.strip_prefix(':') {
                Some(name) => Segment::Placeholder(name.to_owned()),
                None => Segment::Literal(s.to_owned()),
            })
            .collect();
        RoutePattern { segments }
    }

    /// How well `path` matches: `None` when it does not; otherwise the route values and a
    /// rank where literal segments beat placeholders and an exact length beats an id.
    pub(crate) fn matches(&self, path: &[&str]) -> Option<(Map<String, Value>, (usize, bool))> {
        let n = self.segments.len();
        if path.len() != n && path.len() != n + 1 {
            return None;
        }
        let mut route = Map::new();
        let mut literals = 0;
        for (seg, part) in self.segments.iter().zip(path) {
            match seg {
                Segment::Literal(lit) if lit == part => literals += 1,
                Segment::Literal(_) => return None,
                Segment::Placeholder(name) => {
                    if part.is_empty() {
                        return None;
                    }
                    route.insert(name.clone(), Value::String((*part).to_owned()));
                }
            }
        }
        let exact = path.len() == n;
        if let Some(id) = path.get(n) {
            if id.is_empty() {
                return None;
            }
            route.insert("__id".to_owned(), Value::String((*id).to_owned()));
        }
        Some((route, (literals, exact)))
    }
}

/// Splits a concrete request path for matching.
pub(crate) fn split_request_path(path: &str) -> Vec<&str> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_slashes() {
        assert_eq!(normalize_path("/messages/"), "messages");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/"), "/");
    }

    #[test]
    fn placeholders_and_ids() {
        let p = RoutePattern::new("users/:userId/messages");
        let (route, rank) = p.matches(&split_request_path("users/5/messages")).unwrap();
        assert_eq!(route["userId"], "5");
        assert_eq!(rank, (2, true));
        let (route, rank) = p
            .matches(&split_request_path("/users/5/messages/9/"))
            .unwrap();
        assert_eq!(route["__id"], "9");
        assert!(!rank.1);
        assert!(p.matches(&split_request_path("users/5")).is_none());
        assert!(p.matches(&split_request_path("users/5/other")).is_none());
    }

    #[test]
    fn root_service() {
        let p = RoutePattern::new("/");
        assert!(p.matches(&split_request_path("/")).is_some());
        let (route, _) = p.matches(&split_request_path("/7")).unwrap();
        assert_eq!(route["__id"], "7");
    }
}

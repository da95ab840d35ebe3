//! Publishing as data (docs/architecture.md §2, CHAT-APP.md): an ordered list of rules, first match wins.
//!
//! A rule matches an event when its `service` and `event` (if given) match and the event
//! data's `when` field (if given) is truthy as JavaScript sees it (`userId: 0` falls
//! through). It sends the event to `channel`, a template where `{field}` becomes
//! `String(data.field)`. No match sends nothing.
//!
//! ```toml
//! [[app.publish_rules]]
//! service = "messages"
//! when = "roomId"
//! channel = "room/{roomId}"
//! [[app.publish_rules]]
//! channel = "authenticated"
//! ```

use roost_core::js::{is_truthy, to_string};
use roost_core::publish::Publisher;
use roost_core::{App, HookContext, Value};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One publishing rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRule {
    /// Only events of the service at this path (default: every service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Only this event (`created`, `patched`, a custom event; default: every event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Only when this field of the event data is truthy (default: always).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The channel: literal text with `{field}` placeholders.
    pub channel: String,
}

impl PublishRule {
    fn new(service: Option<&str>, when: Option<&str>, channel: &str) -> Self {
        PublishRule {
            service: service.map(str::to_owned),
            event: None,
            when: when.map(str::to_owned),
            channel: channel.to_owned(),
        }
    }
}

/// `publish_rules`: a preset name or a list of rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PublishRules {
    /// `"default"` or `"reference"`.
    Preset(String),
    /// Rules in order.
    Rules(Vec<PublishRule>),
}

impl Default for PublishRules {
    fn default() -> Self {
        PublishRules::Preset("default".to_owned())
    }
}

/// Roost's default: a message with a room goes to its room first.
pub(crate) fn default_preset() -> Vec<PublishRule> {
    vec![
        PublishRule::new(Some("messages"), Some("roomId"), "room/{roomId}"),
        PublishRule::new(None, Some("userId"), "user/{userId}"),
        PublishRule::new(None, Some("projectId"), "project/{projectId}"),
        PublishRule::new(None, None, "authenticated"),
    ]
}

/// The reference's literal order (docs/protocol.md §9): the author's id wins over the room.
pub(crate) fn reference_preset() -> Vec<PublishRule> {
    vec![
        PublishRule::new(None, Some("userId"), "user/{userId}"),
        PublishRule::new(None, Some("projectId"), "project/{projectId}"),
        PublishRule::new(Some("messages"), Some("roomId"), "room/{roomId}"),
        PublishRule::new(None, None, "authenticated"),
    ]
}

impl PublishRules {
    /// The rules this setting names.
    pub fn rules(&self) -> Result<Vec<PublishRule>, String> {
        match self {
            PublishRules::Preset(name) => match name.as_str() {
                "default" => Ok(default_preset()),
                "reference" => Ok(reference_preset()),
                other => Err(format!(
                    "app.publish_rules: unknown preset `{other}` (use \"default\", \"reference\" or a list of rules)"
                )),
            },
            PublishRules::Rules(rules) => Ok(rules.clone()),
        }
    }

    /// The checked, compiled rules.
    pub(crate) fn compile(&self) -> Result<CompiledRules, String> {
        let rules = self.rules()?;
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, rule) in rules.into_iter().enumerate() {
            let template = parse_template(&rule.channel)
                .map_err(|why| format!("app.publish_rules[{i}].channel: {why}"))?;
            compiled.push(Compiled {
                service: rule.service.map(|s| s.trim_matches('/').to_owned()),
                event: rule.event,
                when: rule.when,
                template,
            });
        }
        Ok(CompiledRules(Arc::new(compiled)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(String),
}

#[derive(Debug)]
struct Compiled {
    service: Option<String>,
    event: Option<String>,
    when: Option<String>,
    template: Vec<Piece>,
}

fn parse_template(template: &str) -> Result<Vec<Piece>, String> {
    if template.is_empty() {
        return Err("must not be empty".into());
    }
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!("`}}` without `{{` in {template:?}"));
        }
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in {template:?}"))?;
        let field = &after[..close];
        if field.is_empty() || field.contains('{') {
            return Err(format!("bad placeholder in {template:?}"));
        }
        pieces.push(Piece::Field(field.to_owned()));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// Checked rules, cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRules(Arc<Vec<Compiled>>);

impl CompiledRules {
    /// The channel name the first matching rule gives for `data` of `event` on `service`.
    pub(crate) fn channel_for(&self, service: &str, event: &str, data: &Value) -> Option<String> {
        let rule = self.0.iter().find(|rule| {
            rule.service.as_deref().is_none_or(|s| s == service)
                && rule.event.as_deref().is_none_or(|e| e == event)
                && rule
                    .when
                    .as_deref()
                    .is_none_or(|field| data.get(field).is_some_and(is_truthy))
        })?;
        let mut name = String::new();
        for piece in &rule.template {
            match piece {
                Piece::Text(text) => name.push_str(text),
                Piece::Field(field) => name.push_str(
                    &data
                        .get(field)
                        .map_or_else(|| "undefined".into(), to_string),
                ),
            }
        }
        Some(name)
    }

    /// Registers the rules as the app-level catch-all publisher.
    pub(crate) fn install(&self, app: &App) {
        let rules = self.clone();
        app.publish(Publisher::new(move |data: &Value, ctx: &HookContext| {
            let event = ctx.event.as_deref().unwrap_or_default();
            Ok(rules
                .channel_for(&ctx.path, event, data)
                .map(|name| ctx.app.channel(&name).into()))
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roost_core::json;

    #[test]
    fn presets_in_order_with_js_truthiness() {
        let default = PublishRules::default().compile().unwrap();
        let reference = PublishRules::Preset("reference".into()).compile().unwrap();
        let authored = json!({"text": "hi", "roomId": "r1", "userId": 1});
        assert_eq!(
            default
                .channel_for("messages", "created", &authored)
                .as_deref(),
            Some("room/r1")
        );
        assert_eq!(
            reference
                .channel_for("messages", "created", &authored)
                .as_deref(),
            Some("user/1")
        );
        let zero = json!({"userId": 0, "projectId": "p"});
        assert_eq!(
            reference.channel_for("x", "created", &zero).as_deref(),
            Some("project/p")
        );
        // The room rule is for messages only.
        assert_eq!(
            default
                .channel_for("users", "created", &json!({"roomId": "r"}))
                .as_deref(),
            Some("authenticated")
        );
    }

    #[test]
    fn custom_rules_and_bad_templates() {
        let rules = PublishRules::Rules(vec![PublishRule {
            service: Some("/messages".into()),
            event: Some("patched".into()),
            when: None,
            channel: "edits/{roomId}/{missing}".into(),
        }]);
        let compiled = rules.compile().unwrap();
        assert_eq!(
            compiled
                .channel_for("messages", "patched", &json!({"roomId": 7}))
                .as_deref(),
            Some("edits/7/undefined")
        );
        assert_eq!(
            compiled.channel_for("messages", "created", &json!({})),
            None
        );
        for bad in ["", "a/{", "a/}", "{}", "x{a{b}}"] {
            let rules = PublishRules::Rules(vec![PublishRule::new(None, None, bad)]);
            assert!(rules.compile().is_err(), "{bad}");
        }
        assert!(PublishRules::Preset("nope".into()).compile().is_err());
    }
}

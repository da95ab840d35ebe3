//! Built-in hooks a declared service names in the configuration (`[services.<path>.hooks]`):
//! `authenticate`, `protect`, `hash_password`, `set_from_user` and `restrict_to_user`, each
//! an optional `:argument` after the name.
//!
//! ```toml
//! [services.notes.hooks.before]
//! all = ["authenticate"]                    # authenticate('jwt')
//! create = ["set_from_user:ownerId"]        # data.ownerId = params.user.id
//! find = ["restrict_to_user:ownerId"]       # query.ownerId = params.user.id
//! [services.notes.hooks.after]
//! all = ["protect:secret"]
//! ```

use roost_auth::{protect, Authentication, UserFieldHook, UserFieldTarget};
use roost_core::hooks::{Hook, HookMap, ALL};
use roost_core::service::is_standard_method;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The hooks of one declared service: per type, per method (`all` or a method name), in
/// the order they run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeclaredHooks {
    /// Before hooks.
    pub before: BTreeMap<String, Vec<HookSpec>>,
    /// After hooks.
    pub after: BTreeMap<String, Vec<HookSpec>>,
}

/// One built-in hook, as written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum HookSpec {
    /// `authenticate` or `authenticate:jwt,local`: the caller must be authenticated with one
    /// of the strategies (default `jwt`); internal calls pass.
    Authenticate(Vec<String>),
    /// `protect:password,secret`: the fields never reach external callers.
    Protect(Vec<String>),
    /// `hash_password` or `hash_password:field` (default `password`): bcrypt the field of
    /// created/updated/patched data.
    HashPassword(String),
    /// `set_from_user:field` or `set_from_user:field=userField`: `data.field` of
    /// create/update/patch becomes the caller's `user.userField` (default: the user's id
    /// field).
    SetFromUser(String, Option<String>),
    /// `restrict_to_user:field` or `restrict_to_user:field=userField`: `query.field` of
    /// find/get/update/patch/remove becomes the caller's `user.userField`.
    RestrictToUser(String, Option<String>),
}

impl HookSpec {
    fn name(&self) -> &'static str {
        match self {
            HookSpec::Authenticate(_) => "authenticate",
            HookSpec::Protect(_) => "protect",
            HookSpec::HashPassword(_) => "hash_password",
            HookSpec::SetFromUser(..) => "set_from_user",
            HookSpec::RestrictToUser(..) => "restrict_to_user",
        }
    }

    /// Whether the hook runs after the method (`protect`) rather than before it.
    fn is_after(&self) -> bool {
        matches!(self, HookSpec::Protect(_))
    }

    /// Whether the hook needs the authentication of the default app.
    fn needs_auth(&self) -> bool {
        matches!(self, HookSpec::Authenticate(_) | HookSpec::HashPassword(_))
    }
}

fn list(arg: &str) -> Vec<String> {
    arg.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn field_pair(name: &str, arg: Option<&str>) -> Result<(String, Option<String>), String> {
    let arg = arg
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("`{name}` needs a field: `{name}:ownerId`"))?;
    Ok(match arg.split_once('=') {
        Some((field, user)) if !field.trim().is_empty() && !user.trim().is_empty() => {
            (field.trim().to_owned(), Some(user.trim().to_owned()))
        }
        Some(_) => return Err(format!("`{name}:{arg}`: use `field` or `field=userField`")),
        None => (arg.to_owned(), None),
    })
}

impl TryFrom<String> for HookSpec {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let (name, arg) = match text.split_once(':') {
            Some((name, arg)) => (name.trim(), Some(arg)),
            None => (text.trim(), None),
        };
        match name {
            "authenticate" => {
                let strategies = arg.map(list).unwrap_or_default();
                Ok(HookSpec::Authenticate(if strategies.is_empty() {
                    vec!["jwt".to_owned()]
                } else {
                    strategies
                }))
            }
            "protect" => {
                let fields = arg.map(list).unwrap_or_default();
                if fields.is_empty() {
                    return Err("`protect` needs fields: `protect:password,secret`".into());
                }
                Ok(HookSpec::Protect(fields))
            }
            "hash_password" => {
                let field = arg.map(str::trim).filter(|a| !a.is_empty());
                Ok(HookSpec::HashPassword(
                    field.unwrap_or("password").to_owned(),
                ))
            }
            "set_from_user" => {
                let (field, user) = field_pair(name, arg)?;
                Ok(HookSpec::SetFromUser(field, user))
            }
            "restrict_to_user" => {
                let (field, user) = field_pair(name, arg)?;
                Ok(HookSpec::RestrictToUser(field, user))
            }
            other => Err(format!(
                "unknown hook `{other}` (built-in hooks: authenticate, protect, hash_password, \
                 set_from_user, restrict_to_user)"
            )),
        }
    }
}

impl fmt::Display for HookSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            HookSpec::Authenticate(items) | HookSpec::Protect(items) => {
                write!(f, "{name}:{}", items.join(","))
            }
            HookSpec::HashPassword(field) => write!(f, "{name}:{field}"),
            HookSpec::SetFromUser(field, user) | HookSpec::RestrictToUser(field, user) => {
                match user {
                    Some(user) => write!(f, "{name}:{field}={user}"),
                    None => write!(f, "{name}:{field}"),
                }
            }
        }
    }
}

impl From<HookSpec> for String {
    fn from(spec: HookSpec) -> String {
        spec.to_string()
    }
}

impl DeclaredHooks {
    /// Whether no hook is declared.
    pub fn is_empty(&self) -> bool {
        self.before.values().all(Vec::is_empty) && self.after.values().all(Vec::is_empty)
    }

    /// Whether any hook needs the default app's authentication.
    pub(crate) fn needs_auth(&self) -> bool {
        self.before
            .values()
            .chain(self.after.values())
            .flatten()
            .any(HookSpec::needs_auth)
    }

    /// Checks method keys (`all`, a standard method, or one of `methods`) and that each hook
    /// sits where it can run (`protect` after, the others before).
    pub(crate) fn validate(&self, methods: Option<&[String]>) -> Result<(), String> {
        for (kind, map, after) in [
            ("before", &self.before, false),
            ("after", &self.after, true),
        ] {
            for (method, hooks) in map {
                let known = method == ALL
                    || is_standard_method(method)
                    || methods.is_some_and(|m| m.iter().any(|n| n == method));
                if !known {
                    return Err(format!(
                        "hooks.{kind}.{method}: not `all` or a method of the service"
                    ));
                }
                if let Some(hook) = hooks.iter().find(|h| h.is_after() != after) {
                    let should = if hook.is_after() {
                        "an after"
                    } else {
                        "a before"
                    };
                    return Err(format!(
                        "hooks.{kind}.{method}: `{}` is {should} hook",
                        hook.name()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The hooks as a [`HookMap`]. `auth` is the default app's authentication (needed by
    /// `authenticate` and `hash_password`); `user_id_field` is the default user field of
    /// `set_from_user`/`restrict_to_user`.
    pub(crate) fn build(
        &self,
        auth: Option<&Authentication>,
        user_id_field: &str,
    ) -> Result<HookMap, String> {
        let mut map = HookMap::new();
        for (method, hooks) in &self.before {
            for spec in hooks {
                map = map.before(method, before_hook(spec, auth, user_id_field)?);
            }
        }
        for (method, hooks) in &self.after {
            for spec in hooks {
                if let HookSpec::Protect(fields) = spec {
                    // The same hook before the method refuses external queries that
                    // filter, sort or select on the protected fields.
                    let hook = protect(fields);
                    map = map.before(method, hook.clone()).after(method, hook);
                }
            }
        }
        Ok(map)
    }
}

fn before_hook(
    spec: &HookSpec,
    auth: Option<&Authentication>,
    user_id_field: &str,
) -> Result<Arc<dyn Hook>, String> {
    let need_auth = || {
        auth.ok_or_else(|| {
            format!(
                "hook `{}` needs authentication, which the default app provides ([app] \
                 enabled = false turns it off)",
                spec.name()
            )
        })
    };
    let hook: Arc<dyn Hook> = match spec {
        HookSpec::Authenticate(strategies) => need_auth()?
            .authenticate_hook(strategies)
            .map_err(|e| e.message)?,
        HookSpec::HashPassword(field) => need_auth()?.hash_password(field),
        HookSpec::SetFromUser(field, user) => UserFieldHook::new(
            UserFieldTarget::Data,
            field,
            user.as_deref().unwrap_or(user_id_field),
        ),
        HookSpec::RestrictToUser(field, user) => UserFieldHook::new(
            UserFieldTarget::Query,
            field,
            user.as_deref().unwrap_or(user_id_field),
        ),
        HookSpec::Protect(_) => {
            return Err(format!("`{}` is an after hook", spec.name()));
        }
    };
    Ok(hook)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<HookSpec, String> {
        HookSpec::try_from(text.to_owned())
    }

    #[test]
    fn hook_names_parse_and_print_back() {
        let cases = [
            ("authenticate", "authenticate:jwt"),
            ("authenticate:jwt, local", "authenticate:jwt,local"),
            ("protect:password,secret", "protect:password,secret"),
            ("hash_password", "hash_password:password"),
            ("hash_password:pw", "hash_password:pw"),
            ("set_from_user:ownerId", "set_from_user:ownerId"),
            (
                "restrict_to_user:ownerId=email",
                "restrict_to_user:ownerId=email",
            ),
        ];
        for (text, printed) in cases {
            let parsed = spec(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed.to_string(), printed);
            assert_eq!(spec(printed), Ok(parsed));
        }
    }

    #[test]
    fn bad_hook_names_say_what_is_wrong() {
        assert!(spec("authorize")
            .unwrap_err()
            .contains("unknown hook `authorize`"));
        assert!(spec("protect").unwrap_err().contains("needs fields"));
        assert!(spec("set_from_user").unwrap_err().contains("needs a field"));
        assert!(spec("restrict_to_user:a=")
            .unwrap_err()
            .contains("field=userField"));
    }

    #[test]
    fn hooks_must_sit_where_they_run() {
        let mut hooks = DeclaredHooks::default();
        hooks
            .after
            .insert("all".into(), vec![spec("authenticate").unwrap()]);
        assert!(hooks
            .validate(None)
            .unwrap_err()
            .contains("is a before hook"));
        let mut hooks = DeclaredHooks::default();
        hooks
            .before
            .insert("create".into(), vec![spec("protect:x").unwrap()]);
        assert!(hooks
            .validate(None)
            .unwrap_err()
            .contains("is an after hook"));
        let mut hooks = DeclaredHooks::default();
        hooks
            .before
            .insert("archive".into(), vec![spec("authenticate").unwrap()]);
        assert!(hooks
            .validate(None)
            .unwrap_err()
            .contains("hooks.before.archive"));
        assert!(hooks.validate(Some(&["archive".to_owned()])).is_ok());
        assert!(hooks.needs_auth());
        let Err(why) = hooks.build(None, "id") else {
            panic!("built without authentication");
        };
        assert!(why.contains("needs authentication"), "{why}");
    }
}

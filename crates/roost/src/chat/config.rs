//! `[app]`: the default chat app's settings.

use super::publish::PublishRules;
use serde::{Deserialize, Serialize};

/// `[app]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// Run the default chat app (`users`, `authentication`, `messages`; default `true`).
    pub enabled: bool,
    /// Which publishing rules apply: `"default"` (room first), `"reference"` (the
    /// reference's literal order), or a list of rules (`[[app.publish_rules]]`).
    pub publish_rules: PublishRules,
    /// The role that may change other users (default `admin`).
    pub admin_role: String,
    /// Users created at start when no user has their email.
    pub seed_users: Vec<SeedUser>,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            enabled: true,
            publish_rules: PublishRules::default(),
            admin_role: "admin".to_owned(),
            seed_users: Vec::new(),
        }
    }
}

/// `[[app.seed_users]]`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    /// The email (the login name).
    pub email: String,
    /// The password, hashed before it is stored.
    pub password: String,
    /// Roles (`role/<r>` channels; the admin role may change other users).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Permissions (`permission/<p>` channels).
    #[serde(default)]
    pub permissions: Vec<String>,
}

impl std::fmt::Debug for SeedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedUser")
            .field("email", &self.email)
            .field("roles", &self.roles)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl AppConfig {
    /// Checks what would otherwise only fail at start of the app or at first use.
    pub fn validate(&self) -> Result<(), String> {
        self.publish_rules.compile()?;
        if self.admin_role.is_empty() {
            return Err("app.admin_role must not be empty".into());
        }
        for (i, user) in self.seed_users.iter().enumerate() {
            if user.email.is_empty() || user.password.is_empty() {
                return Err(format!(
                    "app.seed_users[{i}]: email and password must not be empty"
                ));
            }
        }
        Ok(())
    }

    /// The section with seed passwords replaced by a placeholder, for printing.
    pub fn redacted(&self) -> AppConfig {
        let mut copy = self.clone();
        for user in &mut copy.seed_users {
            user.password = "<redacted>".to_owned();
        }
        copy
    }
}

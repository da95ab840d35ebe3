//! Hooks: around, before, after and error hooks, ordered as Feathers orders them.

mod context;

pub use context::{HookContext, HookType, Http};

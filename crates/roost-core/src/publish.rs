//! Publishers (placeholder until the publish module lands).

/// Publishers registered at one level (app or service).
#[derive(Debug, Default)]
pub struct Publishers {}

//! Channels (placeholder until the channels module lands).

/// The channel registry.
#[derive(Debug, Default)]
pub struct Channels {}

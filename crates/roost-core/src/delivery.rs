//! Delivery (placeholder).

/// The seam.
pub trait DeliverySink: Send + Sync {}

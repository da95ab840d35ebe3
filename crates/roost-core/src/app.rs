//! `App`: the registry of services, app-level hooks, channels and publishers.

use crate::channels::Channels;
use crate::publish::Publishers;
use std::fmt;
use std::sync::Arc;

/// A Roost application: cheap to clone, shared by every transport and hook.
#[derive(Clone)]
pub struct App {
    pub(crate) inner: Arc<AppInner>,
}

pub(crate) struct AppInner {
    pub(crate) channels: Channels,
    pub(crate) publishers: Publishers,
}

impl App {
    /// An empty application.
    pub fn new() -> Self {
        App {
            inner: Arc::new(AppInner {
                channels: Channels::default(),
                publishers: Publishers::default(),
            }),
        }
    }

    /// The channel registry.
    pub fn channels(&self) -> &Channels {
        &self.inner.channels
    }

    /// The app-level publishers.
    pub fn publishers(&self) -> &Publishers {
        &self.inner.publishers
    }
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

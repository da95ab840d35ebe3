//! Hooks: around, before, after and error hooks, ordered as Feathers orders them.
//!
//! There is one mechanism: every hook becomes an *around* layer `(ctx, next)`. Regular hooks
//! are grouped into layers the way `@feathersjs/hooks`' `collect` does, and `store` orders
//! the layers of the app and of the service into one chain (docs/feathers-semantics.md §B3–B8):
//!
//! ```text
//! app around.all → app around[m] → app {before.all | error.all} → app {before[m], after[m] | error[m]}
//!   → app {after.all} → service middleware → service around.all → service around[m]
//!   → service {before.all | error.all} → service {before[m], after[m] | error[m]} → service {after.all}
//!   → METHOD (skipped when a result is already set)
//! ```
//!
//! Because `{after.all}` is the innermost layer of its level, `after.all` runs before
//! `after[m]` (Feathers #3002), and `error[m]` catches before `error.all`.

mod context;
pub(crate) mod store;

pub use context::{HookContext, HookType, Http};
pub use store::{HookMap, ALL};

use crate::error::{Error, Result};
use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future, the return type of hook closures.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An around hook: runs code before and after the rest of the chain, which it starts by
/// calling [`Next::run`]. Returning an error without calling `next` stops the call.
#[async_trait]
pub trait AroundHook: Send + Sync + 'static {
    /// Runs the hook.
    async fn call(&self, ctx: &mut HookContext, next: Next<'_>) -> Result<()>;
}

/// A regular (before, after or error) hook.
#[async_trait]
pub trait Hook: Send + Sync + 'static {
    /// Runs the hook. Returning an error fails the call (in error hooks: replaces the error).
    async fn call(&self, ctx: &mut HookContext) -> Result<()>;
}

/// The function at the end of a chain: the service method itself.
pub(crate) type Terminal<'a> =
    &'a (dyn for<'c> Fn(&'c mut HookContext) -> BoxFuture<'c, Result<()>> + Send + Sync);

/// The rest of the hook chain, handed to an around hook.
pub struct Next<'a> {
    /// The outer level's layers left (the app's), then the inner level's (the service's):
    /// two slices, so a call chains the two levels' shared layer lists without copying them.
    layers: &'a [Arc<dyn AroundHook>],
    inner: &'a [Arc<dyn AroundHook>],
    terminal: Terminal<'a>,
}

impl<'a> Next<'a> {
    /// The chain `outer` then `inner`, outermost first, ending in `terminal`.
    pub(crate) fn new(
        outer: &'a [Arc<dyn AroundHook>],
        inner: &'a [Arc<dyn AroundHook>],
        terminal: Terminal<'a>,
    ) -> Self {
        Next {
            layers: outer,
            inner,
            terminal,
        }
    }

    /// Runs the rest of the chain, then returns to the caller.
    pub fn run<'c>(self, ctx: &'c mut HookContext) -> BoxFuture<'c, Result<()>>
    where
        'a: 'c,
    {
        let (first, next) = match (self.layers.split_first(), self.inner.split_first()) {
            (Some((first, rest)), _) => (
                first,
                Next {
                    layers: rest,
                    inner: self.inner,
                    terminal: self.terminal,
                },
            ),
            (None, Some((first, rest))) => (
                first,
                Next {
                    layers: rest,
                    inner: &[],
                    terminal: self.terminal,
                },
            ),
            (None, None) => return (self.terminal)(ctx),
        };
        Box::pin(async move { first.call(ctx, next).await })
    }
}

struct FnHook<F>(F);

#[async_trait]
impl<F> Hook for FnHook<F>
where
    F: for<'c> Fn(&'c mut HookContext) -> BoxFuture<'c, Result<()>> + Send + Sync + 'static,
{
    async fn call(&self, ctx: &mut HookContext) -> Result<()> {
        (self.0)(ctx).await
    }
}

/// A regular hook from an async closure: `hook_fn(|ctx| Box::pin(async move { … Ok(()) }))`.
pub fn hook_fn<F>(f: F) -> Arc<dyn Hook>
where
    F: for<'c> Fn(&'c mut HookContext) -> BoxFuture<'c, Result<()>> + Send + Sync + 'static,
{
    Arc::new(FnHook(f))
}

struct SyncHook<F>(F);

#[async_trait]
impl<F> Hook for SyncHook<F>
where
    F: Fn(&mut HookContext) -> Result<()> + Send + Sync + 'static,
{
    async fn call(&self, ctx: &mut HookContext) -> Result<()> {
        (self.0)(ctx)
    }
}

/// A regular hook from a synchronous closure.
pub fn sync_hook<F>(f: F) -> Arc<dyn Hook>
where
    F: Fn(&mut HookContext) -> Result<()> + Send + Sync + 'static,
{
    Arc::new(SyncHook(f))
}

struct FnAround<F>(F);

#[async_trait]
impl<F> AroundHook for FnAround<F>
where
    F: for<'c> Fn(&'c mut HookContext, Next<'c>) -> BoxFuture<'c, Result<()>>
        + Send
        + Sync
        + 'static,
{
    async fn call(&self, ctx: &mut HookContext, next: Next<'_>) -> Result<()> {
        (self.0)(ctx, next).await
    }
}

/// An around hook from an async closure:
/// `around_fn(|ctx, next| Box::pin(async move { next.run(ctx).await }))`.
pub fn around_fn<F>(f: F) -> Arc<dyn AroundHook>
where
    F: for<'c> Fn(&'c mut HookContext, Next<'c>) -> BoxFuture<'c, Result<()>>
        + Send
        + Sync
        + 'static,
{
    Arc::new(FnAround(f))
}

/// Regular hooks of one registration key grouped into one around layer, as
/// `@feathersjs/hooks`' `collect({before, after, error})` does.
pub(crate) struct Collected {
    pub(crate) before: Vec<Arc<dyn Hook>>,
    pub(crate) after: Vec<Arc<dyn Hook>>,
    pub(crate) error: Vec<Arc<dyn Hook>>,
}

impl Collected {
    async fn run_regular(&self, ctx: &mut HookContext, next: Next<'_>) -> Result<()> {
        for hook in &self.before {
            ctx.hook_type = HookType::Before;
            hook.call(ctx).await?;
        }
        ctx.hook_type = HookType::Around;
        next.run(ctx).await?;
        for hook in &self.after {
            ctx.hook_type = HookType::After;
            hook.call(ctx).await?;
        }
        ctx.hook_type = HookType::Around;
        Ok(())
    }

    async fn run_error_hooks(&self, ctx: &mut HookContext, error: Error) -> Result<()> {
        // A new failure (not the one an inner error layer already handled) records where it
        // happened and clears the result, like Feathers' `context.original`.
        if ctx.error.as_ref() != Some(&error) || ctx.result.is_some() {
            ctx.original_type = Some(ctx.hook_type);
            ctx.error = Some(error);
            ctx.result = None;
        }
        for hook in &self.error {
            ctx.hook_type = HookType::Error;
            if let Err(replaced) = hook.call(ctx).await {
                ctx.error = Some(replaced.clone());
                ctx.hook_type = HookType::Around;
                return Err(replaced);
            }
        }
        ctx.hook_type = HookType::Around;
        if ctx.result.is_some() {
            return Ok(());
        }
        Err(ctx
            .error
            .clone()
            .unwrap_or_else(|| Error::general("Error hook cleared the error without a result")))
    }
}

#[async_trait]
impl AroundHook for Collected {
    async fn call(&self, ctx: &mut HookContext, next: Next<'_>) -> Result<()> {
        let outcome = self.run_regular(ctx, next).await;
        match outcome {
            Err(error) if !self.error.is_empty() => self.run_error_hooks(ctx, error).await,
            other => other,
        }
    }
}

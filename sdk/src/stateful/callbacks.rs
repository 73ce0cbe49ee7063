//! Callbacks bound where they are declared: a timer's ([`Declarations::event_timer`]...) and
//! the windows' expiry ([`Declarations::on_window_expiration`]).
//!
//! A [`StatefulDoFn`] binds a method to each timer as it declares it, so a firing goes
//! straight to its method, with no dispatch by hand; a timer declared without one
//! ([`Declarations::timer`]) fires into [`StatefulDoFn::on_timer`]. Declaring the expiry
//! callback is what makes the runner call it: there is nothing else to keep in step.

use super::{Ctx, StatefulDoFn};
use crate::dofn::DoFnResult;
use crate::state::{Declarations, FiredTimer, TimeDomain, Timer, TimerFamily};
use std::any::Any;
use std::sync::Arc;

/// A method of `F` called when a timer (or a timer of a family) it was bound to fires.
pub type TimerCallback<F> =
    fn(&mut F, &FiredTimer, &<F as StatefulDoFn>::State, &mut Ctx<'_, F>) -> DoFnResult;

/// A method of `F` called when a window of a key that holds state expires, just before the
/// state is dropped. Its outputs carry the window's maximum timestamp.
pub type ExpiryCallback<F> = fn(&mut F, &<F as StatefulDoFn>::State, &mut Ctx<'_, F>) -> DoFnResult;

/// A callback without its DoFn's type, as [`Declarations`] keeps it until the stateful ParDo
/// takes it back with [`typed`](ErasedCallback::typed).
#[derive(Clone)]
pub(crate) struct ErasedCallback(Arc<dyn Any + Send + Sync>);

impl ErasedCallback {
    fn of<C: Any + Send + Sync>(callback: C) -> Self {
        ErasedCallback(Arc::new(callback))
    }
    /// The callback as type `C`, if it is one.
    pub(crate) fn typed<C: Any + Copy>(&self) -> Option<C> {
        self.0.downcast_ref::<C>().copied()
    }
}

impl std::fmt::Debug for ErasedCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("callback")
    }
}

impl Declarations {
    /// Declares an event-time timer named `name`; `on_fire` is called when it fires.
    pub fn event_timer<F: StatefulDoFn>(&mut self, name: &str, on_fire: TimerCallback<F>) -> Timer {
        self.bound_timer(name, TimeDomain::EventTime, on_fire)
    }

    /// Declares a processing-time timer named `name`; `on_fire` is called when it fires.
    pub fn processing_timer<F: StatefulDoFn>(
        &mut self,
        name: &str,
        on_fire: TimerCallback<F>,
    ) -> Timer {
        self.bound_timer(name, TimeDomain::ProcessingTime, on_fire)
    }

    /// Declares a timer family named `name` on the clock `domain`; `on_fire` is called when
    /// any of its timers fires (the [`FiredTimer`]'s tag tells which).
    pub fn timer_family_calling<F: StatefulDoFn>(
        &mut self,
        name: &str,
        domain: TimeDomain,
        on_fire: TimerCallback<F>,
    ) -> TimerFamily {
        let family = self.timer_family(name, domain);
        self.bind_timer(family.id(), ErasedCallback::of(on_fire));
        family
    }

    /// Declares what to do when a window of a key that holds state expires: `on_expiry` sees
    /// the state one last time before the runner drops it.
    pub fn on_window_expiration<F: StatefulDoFn>(&mut self, on_expiry: ExpiryCallback<F>) {
        self.bind_expiry(ErasedCallback::of(on_expiry));
    }

    fn bound_timer<F: StatefulDoFn>(
        &mut self,
        name: &str,
        domain: TimeDomain,
        on_fire: TimerCallback<F>,
    ) -> Timer {
        let timer = self.timer(name, domain);
        self.bind_timer(timer.id(), ErasedCallback::of(on_fire));
        timer
    }
}

/// What a closure of [`ParDo::with_state`](crate::transforms::ParDo::with_state) may return:
/// nothing, or a [`DoFnResult`] when it can fail.
pub trait CallbackResult {
    /// The outcome as a [`DoFnResult`].
    fn into_result(self) -> DoFnResult;
}

impl CallbackResult for () {
    fn into_result(self) -> DoFnResult {
        Ok(())
    }
}

impl CallbackResult for DoFnResult {
    fn into_result(self) -> DoFnResult {
        self
    }
}

//! [`ParDo::with_state`]: a stateful DoFn written as closures.
//!
//! One closure declares the state and timers and returns their handles (a tuple, usually);
//! [`on_element`](WithState::on_element) takes each element with those handles, the key and
//! the [context](StatefulContext); [`on_timer`](StatefulParDo::on_timer) and
//! [`on_window_expiration`](StatefulParDo::on_window_expiration) add what happens when a timer
//! fires and when a window expires. The closures may return nothing, or a [`DoFnResult`] when
//! they can fail. The result is a stateful ParDo like any other: side inputs, tagged outputs
//! and [time-sorted input](StatefulParDo::time_sorted) are declared on it.
//!
//! Types come from the closures' parameters: annotate the key and the value
//! (`|(count, end), key: &String, v: i64, ctx|`); the output type follows from what is
//! emitted.

use super::{CallbackResult, Ctx, StatefulContext, StatefulDoFn};
use crate::dofn::DoFnResult;
use crate::element::{Element, Key};
use crate::state::{Declarations, FiredTimer};
use crate::transforms::{ParDo, StatefulParDo};
use std::marker::PhantomData;
use std::sync::Arc;

/// A timer closure, without its type.
type TimerFn<K, O, S> =
    Arc<dyn Fn(&S, &K, &FiredTimer, &mut StatefulContext<'_, K, O>) -> DoFnResult + Send + Sync>;
/// An expiry closure, without its type.
type ExpiryFn<K, O, S> =
    Arc<dyn Fn(&S, &K, &mut StatefulContext<'_, K, O>) -> DoFnResult + Send + Sync>;

impl ParDo<()> {
    /// A stateful ParDo written as closures: `declare` declares the state and timers and
    /// returns their handles; then [`on_element`](WithState::on_element). See
    /// [`crate::stateful`] for an example.
    pub fn with_state<S, D>(declare: D) -> WithState<D>
    where
        D: Fn(&mut Declarations) -> S + Clone + Send + Sync + 'static,
    {
        WithState { declare }
    }
}

/// The declaring closure of a stateful ParDo, waiting for its element closure; see
/// [`ParDo::with_state`].
pub struct WithState<D> {
    declare: D,
}

impl<D> WithState<D> {
    /// What to do with each element: `f(handles, key, value, ctx)`.
    pub fn on_element<K, V, O, S, P, R>(self, f: P) -> StatefulParDo<StatefulFn<K, V, O, S, D, P>>
    where
        K: Key,
        V: Element,
        O: Element,
        S: Send + Sync + 'static,
        D: Fn(&mut Declarations) -> S + Clone + Send + Sync + 'static,
        P: FnMut(&S, &K, V, &mut StatefulContext<'_, K, O>) -> R + Clone + Send + Sync + 'static,
        R: CallbackResult,
    {
        ParDo::stateful(StatefulFn {
            declare: self.declare,
            on_element: f,
            on_timer: None,
            on_expiry: None,
            time_sorted: false,
            _types: PhantomData,
        })
    }
}

/// A stateful DoFn made of closures; see [`ParDo::with_state`].
pub struct StatefulFn<K, V, O, S, D, P> {
    declare: D,
    on_element: P,
    on_timer: Option<TimerFn<K, O, S>>,
    on_expiry: Option<ExpiryFn<K, O, S>>,
    time_sorted: bool,
    _types: PhantomData<fn(K, V) -> O>,
}

impl<K, V, O, S, D: Clone, P: Clone> Clone for StatefulFn<K, V, O, S, D, P> {
    fn clone(&self) -> Self {
        StatefulFn {
            declare: self.declare.clone(),
            on_element: self.on_element.clone(),
            on_timer: self.on_timer.clone(),
            on_expiry: self.on_expiry.clone(),
            time_sorted: self.time_sorted,
            _types: PhantomData,
        }
    }
}

impl<K, V, O, S, D, P, R> StatefulParDo<StatefulFn<K, V, O, S, D, P>>
where
    K: Key,
    V: Element,
    O: Element,
    S: Send + Sync + 'static,
    D: Fn(&mut Declarations) -> S + Clone + Send + Sync + 'static,
    P: FnMut(&S, &K, V, &mut StatefulContext<'_, K, O>) -> R + Clone + Send + Sync + 'static,
    R: CallbackResult,
{
    /// What to do when a timer fires: `f(handles, key, timer, ctx)`; outputs carry the timer's
    /// output timestamp. (`timer.is(&handle)` tells timers apart.)
    pub fn on_timer<T, RT>(mut self, f: T) -> Self
    where
        T: Fn(&S, &K, &FiredTimer, &mut StatefulContext<'_, K, O>) -> RT + Send + Sync + 'static,
        RT: CallbackResult,
    {
        self.dofn.on_timer = Some(Arc::new(move |s, k, t, ctx| f(s, k, t, ctx).into_result()));
        self
    }

    /// What to do when a window of a key that holds state expires: `f(handles, key, ctx)`,
    /// just before the state is dropped; outputs carry the window's maximum timestamp.
    pub fn on_window_expiration<X, RX>(mut self, f: X) -> Self
    where
        X: Fn(&S, &K, &mut StatefulContext<'_, K, O>) -> RX + Send + Sync + 'static,
        RX: CallbackResult,
    {
        self.dofn.on_expiry = Some(Arc::new(move |s, k, ctx| f(s, k, ctx).into_result()));
        self
    }

    /// Each key's elements in event-time order (Beam's `@RequiresTimeSortedInput`; see
    /// [`StatefulDoFn::requires_time_sorted_input`]).
    pub fn time_sorted(mut self) -> Self {
        self.dofn.time_sorted = true;
        self
    }
}

impl<K, V, O: Element, S, D, P> StatefulFn<K, V, O, S, D, P>
where
    Self: StatefulDoFn<Key = K, Out = O, State = S>,
{
    /// The expiry callback bound in `declare` when an expiry closure was given.
    fn expire(&mut self, state: &S, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        match &self.on_expiry {
            Some(f) => f(state, ctx.key(), ctx),
            None => Ok(()),
        }
    }
}

impl<K, V, O, S, D, P, R> StatefulDoFn for StatefulFn<K, V, O, S, D, P>
where
    K: Key,
    V: Element,
    O: Element,
    S: Send + Sync + 'static,
    D: Fn(&mut Declarations) -> S + Clone + Send + Sync + 'static,
    P: FnMut(&S, &K, V, &mut StatefulContext<'_, K, O>) -> R + Clone + Send + Sync + 'static,
    R: CallbackResult,
{
    type Key = K;
    type Value = V;
    type Out = O;
    type State = S;

    fn declare(&self, d: &mut Declarations) -> S {
        let handles = (self.declare)(d);
        if self.on_expiry.is_some() {
            d.on_window_expiration::<Self>(Self::expire);
        }
        handles
    }

    fn process(&mut self, value: V, state: &S, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        (self.on_element)(state, ctx.key(), value, ctx).into_result()
    }

    fn on_timer(&mut self, timer: &FiredTimer, state: &S, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        match &self.on_timer {
            Some(f) => f(state, ctx.key(), timer, ctx),
            None => Err(format!(
                "timer {:?} fired, but the stateful ParDo has no on_timer",
                timer.timer
            )
            .into()),
        }
    }

    fn requires_time_sorted_input(&self) -> bool {
        self.time_sorted
    }
}

//! [`ParDo::stateful_map`]: per-key state folded over the elements, in one closure.
//!
//! The most common stateful DoFn keeps one value per key (a count, a running total, the last
//! reading) and decides per element what to emit: Bytewax's `stateful_map`, Flink's
//! `KeyedProcessFunction` without timers. The closure gets the key's value (its `Default` for
//! the key's first element), the key and the element, updates the value in place and returns
//! what to emit (an `Option`, a `Vec`, any iterator). Outputs carry the element's timestamp.
//! The value is state like any other: kept per key and window, and in checkpoints.

use super::{Ctx, StatefulDoFn};
use crate::dofn::DoFnResult;
use crate::element::{Element, Key};
use crate::state::{Declarations, ValueState};
use crate::transforms::{ParDo, StatefulParDo};
use std::marker::PhantomData;

impl ParDo<()> {
    /// A stateful ParDo of one closure, `f(&mut value, key, element) -> outputs`; see
    /// [the module documentation](crate::stateful::StatefulMap) and [`crate::stateful`] for an
    /// example.
    pub fn stateful_map<K, V, S, I, F>(f: F) -> StatefulParDo<StatefulMap<K, V, S, I, F>>
    where
        K: Key,
        V: Element,
        S: Element + Default,
        I: IntoIterator + 'static,
        I::Item: Element,
        F: FnMut(&mut S, &K, V) -> I + Clone + Send + Sync + 'static,
    {
        ParDo::stateful(StatefulMap {
            f,
            _types: PhantomData,
        })
    }
}

/// A stateful DoFn folding a per-key value over the elements; see [`ParDo::stateful_map`].
pub struct StatefulMap<K, V, S, I, F> {
    f: F,
    _types: PhantomData<fn(K, V, S) -> I>,
}

impl<K, V, S, I, F: Clone> Clone for StatefulMap<K, V, S, I, F> {
    fn clone(&self) -> Self {
        StatefulMap {
            f: self.f.clone(),
            _types: PhantomData,
        }
    }
}

impl<K, V, S, I, F> StatefulDoFn for StatefulMap<K, V, S, I, F>
where
    K: Key,
    V: Element,
    S: Element + Default,
    I: IntoIterator + 'static,
    I::Item: Element,
    F: FnMut(&mut S, &K, V) -> I + Clone + Send + Sync + 'static,
{
    type Key = K;
    type Value = V;
    type Out = I::Item;
    type State = ValueState<S>;

    fn declare(&self, d: &mut Declarations) -> ValueState<S> {
        d.value("value")
    }

    fn process(&mut self, value: V, st: &ValueState<S>, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        let cell = ctx.state(st);
        let mut folded = cell.take().unwrap_or_default();
        let outputs = (self.f)(&mut folded, ctx.key(), value);
        ctx.state(st).write(folded);
        for out in outputs {
            ctx.output(out);
        }
        Ok(())
    }
}

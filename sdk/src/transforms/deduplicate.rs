//! Deduplicate: drops elements (or keyed values) already seen within a duration.
//!
//! Unlike [`Distinct`](super::Distinct), which waits for a window to end and emits one of each
//! element per window, Deduplicate emits the first occurrence at once and drops repeats for a
//! while: as Beam's `Deduplicate`, it keeps per element (or per key) a "seen" flag in state,
//! forgotten by a timer `duration` after the first occurrence — in processing time (the
//! default, 10 minutes) or in event time.

use crate::dofn::DoFnResult;
use crate::element::{Element, Key};
use crate::kv::KV;
use crate::pcollection::PCollection;
use crate::pipeline::PTransform;
use crate::state::{Declarations, FiredTimer, TimeDomain, Timer, ValueState};
use crate::stateful::{Ctx, StatefulDoFn};
use crate::time::Duration;
use crate::transforms::ParDo;
use std::marker::PhantomData;

/// How long a first occurrence is remembered by default (as in Beam).
pub const DEFAULT_DURATION: Duration = Duration::from_mins(10);

/// Drops repeats; see the [module documentation](self). Apply [`Deduplicate::values`] to a
/// PCollection of elements, or [`Deduplicate::keyed_values`] to `KV<K, V>` to keep the first
/// value of each key.
#[derive(Clone, Copy, Debug)]
pub struct Deduplicate<M> {
    duration: Duration,
    domain: TimeDomain,
    _mode: PhantomData<fn() -> M>,
}

/// [`Deduplicate`] of whole elements.
#[derive(Clone, Copy, Debug)]
pub struct ByValue;

/// [`Deduplicate`] of the values of each key.
#[derive(Clone, Copy, Debug)]
pub struct ByKey;

impl Deduplicate<ByValue> {
    /// Keeps the first of equal elements (equal when they encode to the same bytes).
    pub fn values() -> Self {
        Deduplicate {
            duration: DEFAULT_DURATION,
            domain: TimeDomain::ProcessingTime,
            _mode: PhantomData,
        }
    }
}

impl Deduplicate<ByKey> {
    /// Keeps the first `KV` of each key.
    pub fn keyed_values() -> Self {
        Deduplicate {
            duration: DEFAULT_DURATION,
            domain: TimeDomain::ProcessingTime,
            _mode: PhantomData,
        }
    }
}

impl<M> Deduplicate<M> {
    /// How long a first occurrence is remembered.
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }
    /// The clock of that duration: processing time (the default) or event time.
    pub fn with_time_domain(mut self, domain: TimeDomain) -> Self {
        self.domain = domain;
        self
    }
}

/// Emits the first value of each key, then drops the key's values until its timer forgets it.
#[derive(Clone)]
struct FirstOfKey<K, V> {
    duration: Duration,
    domain: TimeDomain,
    _t: PhantomData<fn(K, V)>,
}

/// The state of one key: whether it was seen, and the timer that forgets it.
struct Seen {
    seen: ValueState<()>,
    expiry: Timer,
}

impl<K: Key, V: Element> StatefulDoFn for FirstOfKey<K, V> {
    type Key = K;
    type Value = V;
    type Out = KV<K, V>;
    type State = Seen;

    fn declare(&self, d: &mut Declarations) -> Seen {
        Seen {
            seen: d.value("seen"),
            expiry: d.timer("expiry", self.domain),
        }
    }

    fn process(&mut self, value: V, st: &Seen, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        if ctx.state(&st.seen).read().is_some() {
            ctx.metrics().counter("duplicates").inc();
            return Ok(());
        }
        ctx.state(&st.seen).write(());
        let at = match self.domain {
            TimeDomain::ProcessingTime => ctx.processing_time() + self.duration,
            // An event-time timer may not outlive its window.
            TimeDomain::EventTime => (ctx.timestamp() + self.duration).min(ctx.window_expiry()),
        };
        ctx.timer(&st.expiry).set(at);
        ctx.output(KV::new(ctx.key().clone(), value));
        Ok(())
    }

    fn on_timer(&mut self, _: &FiredTimer, st: &Seen, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        ctx.state(&st.seen).clear();
        Ok(())
    }
}

impl<K: Key, V: Element> PTransform<PCollection<KV<K, V>>> for Deduplicate<ByKey> {
    type Output = PCollection<KV<K, V>>;
    fn expand(self, input: &PCollection<KV<K, V>>) -> Self::Output {
        input.apply(
            "Deduplicate",
            ParDo::stateful(FirstOfKey::<K, V> {
                duration: self.duration,
                domain: self.domain,
                _t: PhantomData,
            }),
        )
    }
}

impl<T: Key> PTransform<PCollection<T>> for Deduplicate<ByValue> {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> Self::Output {
        input
            .map("KeyByValue", |t: T| KV::new(t, ()))
            .apply(
                "Deduplicate",
                Deduplicate::<ByKey> {
                    duration: self.duration,
                    domain: self.domain,
                    _mode: PhantomData,
                },
            )
            .map("Value", |kv: KV<T, ()>| kv.key)
    }
}

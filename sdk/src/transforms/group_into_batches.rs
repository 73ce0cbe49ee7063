//! GroupIntoBatches: the values of each key in batches of a size, as they come.
//!
//! As Beam's `GroupIntoBatches`, it buffers each key's values (per window) in state and emits
//! `KV<K, Vec<V>>` once a batch holds `batch_size` values, or — with
//! [`with_byte_size`](GroupIntoBatches::with_byte_size) — once their encoded size reaches a
//! limit. What is left is emitted when the window ends (an event-time timer at its maximum
//! timestamp), or, with [`with_max_buffering_duration`](GroupIntoBatches::with_max_buffering_duration),
//! at the latest that long (in processing time) after a batch's first value. Batches are
//! useful to call an external service with many values at once.

use crate::dofn::DoFnResult;
use crate::element::{Element, Key, encode};
use crate::kv::KV;
use crate::pcollection::PCollection;
use crate::pipeline::PTransform;
use crate::state::{BagState, Declarations, FiredTimer, Timer, ValueState};
use crate::stateful::{Ctx, StatefulDoFn};
use crate::time::Duration;
use crate::transforms::ParDo;
use std::marker::PhantomData;

/// Batches the values of each key; see the [module documentation](self).
#[derive(Clone, Copy, Debug)]
pub struct GroupIntoBatches {
    batch_size: usize,
    byte_size: Option<u64>,
    max_buffering: Option<Duration>,
}

impl GroupIntoBatches {
    /// Batches of `batch_size` values (at least 1).
    pub fn of_size(batch_size: usize) -> Self {
        GroupIntoBatches {
            batch_size: batch_size.max(1),
            byte_size: None,
            max_buffering: None,
        }
    }
    /// Batches whose values' encoded sizes add up to `bytes` at most: a batch is emitted
    /// before the value that would take it past the limit (a value larger than the limit is
    /// a batch of its own).
    pub fn of_byte_size(bytes: u64) -> Self {
        GroupIntoBatches {
            batch_size: usize::MAX,
            byte_size: Some(bytes.max(1)),
            max_buffering: None,
        }
    }
    /// Also limits a batch's encoded size (see [`of_byte_size`](Self::of_byte_size)).
    pub fn with_byte_size(mut self, bytes: u64) -> Self {
        self.byte_size = Some(bytes.max(1));
        self
    }
    /// Emits a batch at the latest `duration` of processing time after its first value.
    pub fn with_max_buffering_duration(mut self, duration: Duration) -> Self {
        self.max_buffering = Some(duration);
        self
    }
}

#[derive(Clone)]
struct Batcher<K, V> {
    spec: GroupIntoBatches,
    _t: PhantomData<fn(K, V)>,
}

/// The state of one key and window.
struct Batch<V> {
    values: BagState<V>,
    bytes: ValueState<u64>,
    end_of_window: Timer,
    buffering: Timer,
}

impl<K: Key, V: Element> Batcher<K, V> {
    /// Emits what the batch holds; bound to both timers.
    fn flush(&mut self, _: &FiredTimer, st: &Batch<V>, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        Self::emit(st, ctx);
        Ok(())
    }

    fn emit(st: &Batch<V>, ctx: &mut Ctx<'_, Self>) {
        let values = ctx.state(&st.values).take();
        ctx.state(&st.bytes).clear();
        ctx.timer(&st.buffering).clear();
        if !values.is_empty() {
            ctx.output(KV::new(ctx.key().clone(), values));
        }
    }
}

impl<K: Key, V: Element> StatefulDoFn for Batcher<K, V> {
    type Key = K;
    type Value = V;
    type Out = KV<K, Vec<V>>;
    type State = Batch<V>;

    fn declare(&self, d: &mut Declarations) -> Batch<V> {
        Batch {
            values: d.bag("values"),
            bytes: d.value("bytes"),
            end_of_window: d.event_timer("end_of_window", Self::flush),
            buffering: d.processing_timer("buffering", Self::flush),
        }
    }

    fn process(&mut self, value: V, st: &Batch<V>, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        if let Some(limit) = self.spec.byte_size {
            let size = encode(&value)?.len() as u64;
            let held = ctx.state(&st.bytes).read_or(0);
            if held > 0 && held + size > limit {
                Self::emit(st, ctx);
            }
            let held = ctx.state(&st.bytes).read_or(0);
            ctx.state(&st.bytes).write(held + size);
        }
        let first = ctx.state(&st.values).is_empty();
        ctx.state(&st.values).add(value);
        if first {
            let end = ctx.window().max_timestamp();
            ctx.timer(&st.end_of_window).set(end);
            if let Some(d) = self.spec.max_buffering {
                ctx.timer(&st.buffering).set_after(d);
            }
        }
        let full_by_count = ctx.state(&st.values).len() >= self.spec.batch_size;
        let full_by_bytes = self
            .spec
            .byte_size
            .is_some_and(|limit| ctx.state(&st.bytes).read_or(0) >= limit);
        if full_by_count || full_by_bytes {
            Self::emit(st, ctx);
        }
        Ok(())
    }
}

impl<K: Key, V: Element> PTransform<PCollection<KV<K, V>>> for GroupIntoBatches {
    type Output = PCollection<KV<K, Vec<V>>>;
    fn expand(self, input: &PCollection<KV<K, V>>) -> Self::Output {
        input.apply(
            "Batch",
            ParDo::stateful(Batcher::<K, V> {
                spec: self,
                _t: PhantomData,
            }),
        )
    }
}

//! Combine: reduce values with a [`CombineFn`], globally or per key.
//!
//! A `CombineFn` describes a reduction through an *accumulator*: create an empty one, add
//! inputs to it, merge accumulators, extract the output. Because accumulators merge, a runner
//! may combine part of the input before the shuffle ("combiner lifting") and merge the partial
//! accumulators after it, which moves far less data than grouping every value.
//!
//! ```
//! use sluice_sdk::prelude::*;
//! let p = Pipeline::new();
//! let sales = p.apply("Sales", Create::of(vec![KV::new("a".to_string(), 3i64), KV::new("a".to_string(), 4)]));
//! let totals = sales.apply("Total", Combine::per_key(Sum::<i64>::new()));
//! let count = sales.apply("Count", Count::globally());
//! # let _ = (totals, count);
//! ```

pub mod combiners;
mod sliced;
mod two_stacks;

use super::bounded_grouping::{Fold, TypedBoundedGrouping};
use super::create::Impulse;
use super::flatten::{Flatten, PCollectionList};
use super::group_by_key::{
    ElementAsKey, KeySplit, SplitKv, add_group_node, panes_to_kvs, split_to_records,
};
use super::kv_transforms::Values;
use super::pardo::{ParDo, downcast_input};
use super::per_window::PerWindow;
use crate::dofn::{DoFn, DoFnResult, ProcessContext};
use crate::element::{CoderError, Element, EncodedKey, Key, decode, encode, encode_inline};
use crate::error::BoxError;
use crate::graph::Bundle;
use crate::graph::kernel::{
    BoundedGrouping, GroupKernel, GroupState, KeyedRecord, PaneOutput, PreCombiner, RecordKind,
};
use crate::kv::KV;
use crate::pcollection::PCollection;
use crate::pipeline::{PTransform, SliceUse};
use crate::side_input::{PCollectionView, View};
use crate::time::Timestamp;
use crate::trigger::TimestampCombiner;
use crate::window::{GlobalWindows, Slicing, Window};
use crate::windowed_value::WindowedValue;
use sliced::SlicedGrouping;
use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// A reduction through a mergeable accumulator.
pub trait CombineFn: Clone + Send + Sync + 'static {
    /// Input element type.
    type Input: Element;
    /// Accumulator type (encoded when partial results cross a shuffle).
    type Accumulator: Element;
    /// Output type.
    type Output: Element;
    /// A new, empty accumulator.
    fn create_accumulator(&self) -> Self::Accumulator;
    /// Adds one input.
    fn add_input(&self, accumulator: &mut Self::Accumulator, input: Self::Input);
    /// Merges `other` into `accumulator`.
    fn merge_accumulators(&self, accumulator: &mut Self::Accumulator, other: Self::Accumulator);
    /// The output of an accumulator.
    fn extract_output(&self, accumulator: &Self::Accumulator) -> Self::Output;
}

/// Entry points of the Combine transforms.
pub struct Combine;

impl Combine {
    /// Combines the values of each key (and window).
    pub fn per_key<F: CombineFn>(combine_fn: F) -> CombinePerKey<F> {
        CombinePerKey(combine_fn)
    }
    /// Combines all elements (per window) into one. On global windows an empty input yields
    /// the output of an empty accumulator, as in Beam; other windowings need
    /// [`CombineGlobally::without_defaults`].
    pub fn globally<F: CombineFn>(combine_fn: F) -> CombineGlobally<F> {
        CombineGlobally {
            combine_fn,
            insert_default: true,
        }
    }
}

/// See [`Combine::per_key`].
pub struct CombinePerKey<F>(F);

/// See [`Combine::globally`].
pub struct CombineGlobally<F> {
    combine_fn: F,
    insert_default: bool,
}

impl<F> CombineGlobally<F> {
    /// Emits nothing for an empty input (required off the global window).
    pub fn without_defaults(self) -> Self {
        CombineGlobally {
            insert_default: false,
            ..self
        }
    }
}

struct AccState<F: CombineFn> {
    combine_fn: F,
    acc: Option<F::Accumulator>,
}

impl<F: CombineFn> GroupState for AccState<F> {
    fn add_run(&mut self, run: &[KeyedRecord]) -> Result<(), BoxError> {
        let f = &self.combine_fn;
        for record in run {
            match record.kind {
                RecordKind::Value => {
                    let input: F::Input = decode(&record.payload)?;
                    f.add_input(
                        self.acc.get_or_insert_with(|| f.create_accumulator()),
                        input,
                    );
                }
                RecordKind::Accumulator => {
                    let other: F::Accumulator = decode(&record.payload)?;
                    match &mut self.acc {
                        Some(acc) => f.merge_accumulators(acc, other),
                        None => self.acc = Some(other),
                    }
                }
            }
        }
        Ok(())
    }
    fn merge(&mut self, other: Box<dyn GroupState>) -> Result<(), BoxError> {
        let other = other
            .into_any()
            .downcast::<AccState<F>>()
            .map_err(|_| "merging states of different transforms")?;
        if let Some(o) = other.acc {
            match &mut self.acc {
                Some(acc) => self.combine_fn.merge_accumulators(acc, o),
                None => self.acc = Some(o),
            }
        }
        Ok(())
    }
    fn extract(&mut self, _discarding: bool) -> Result<Box<dyn Any + Send>, BoxError> {
        let out = match &self.acc {
            Some(acc) => self.combine_fn.extract_output(acc),
            None => self
                .combine_fn
                .extract_output(&self.combine_fn.create_accumulator()),
        };
        Ok(Box::new(out))
    }
    fn clear(&mut self) {
        self.acc = None;
    }
    fn encode(&self) -> Result<Vec<u8>, CoderError> {
        encode(&self.acc)
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The timestamp a partial accumulator carries: nothing for end-of-window output (the window
/// decides it), the combined timestamp of its inputs otherwise.
pub(crate) trait PartialStamp: Copy + Send + 'static {
    fn first(timestamp: Timestamp) -> Self;
    fn add(&mut self, timestamp: Timestamp, combiner: TimestampCombiner);
    fn timestamp(&self, window: &Window) -> Timestamp;
    /// Merges the partial timestamp of other inputs.
    fn merge(&mut self, other: Self, combiner: TimestampCombiner);
}

impl PartialStamp for () {
    fn first(_timestamp: Timestamp) {}
    fn add(&mut self, _timestamp: Timestamp, _combiner: TimestampCombiner) {}
    fn timestamp(&self, window: &Window) -> Timestamp {
        window.max_timestamp()
    }
    fn merge(&mut self, _other: Self, _combiner: TimestampCombiner) {}
}

impl PartialStamp for Timestamp {
    fn first(timestamp: Timestamp) -> Self {
        timestamp
    }
    fn add(&mut self, timestamp: Timestamp, combiner: TimestampCombiner) {
        *self = combiner.combine(*self, timestamp);
    }
    fn timestamp(&self, _window: &Window) -> Timestamp {
        *self
    }
    fn merge(&mut self, other: Self, combiner: TimestampCombiner) {
        self.add(other, combiner);
    }
}

/// The partial accumulators of one window, by key.
type PartialMap<K, A, P> = HashMap<K, (A, P), rustc_hash::FxBuildHasher>;

/// Partial accumulators per (key, window) before a shuffle, one per live (key, window) until
/// the flush at the end of the producing stage.
///
/// It does not spill early: the shuffle keeps whatever it is given until the stage ends, so a
/// spilled accumulator would stay in memory beside the next one for the same (key, window) —
/// memory would follow the number of window assignments instead of the live pairs, which the
/// grouping after the shuffle holds anyway.
///
/// Keys are kept per window (most bundles hold one window), so the hot map is keyed by the
/// user's key alone: smaller entries, cheaper hashing.
struct PreCombinerImpl<S: KeySplit, F: CombineFn, P> {
    combine_fn: F,
    timestamp_combiner: TimestampCombiner,
    windows: PerWindow<PartialMap<S::Key, F::Accumulator, P>>,
    entries: usize,
}

impl<S: KeySplit, F: CombineFn<Input = S::Value>, P: PartialStamp> PreCombinerImpl<S, F, P> {
    fn new(combine_fn: F, timestamp_combiner: TimestampCombiner) -> Self {
        PreCombinerImpl {
            combine_fn,
            timestamp_combiner,
            windows: PerWindow::new(),
            entries: 0,
        }
    }
}

impl<S: KeySplit, F: CombineFn<Input = S::Value>, P: PartialStamp> PreCombiner
    for PreCombinerImpl<S, F, P>
{
    fn add_bundle(&mut self, input: Bundle) -> Result<(), BoxError> {
        let values: Vec<WindowedValue<S::In>> = downcast_input(input)?;
        let tc = self.timestamp_combiner;
        for wv in values {
            let (key, value) = S::split(wv.value);
            let f = &self.combine_fn;
            match self.windows.get_mut(wv.window).entry(key) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    let slot = e.get_mut();
                    f.add_input(&mut slot.0, value);
                    slot.1.add(wv.timestamp, tc);
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    let mut acc = f.create_accumulator();
                    f.add_input(&mut acc, value);
                    e.insert((acc, P::first(wv.timestamp)));
                    self.entries += 1;
                }
            }
        }
        Ok(())
    }
    fn flush(&mut self, batch: usize, out: &mut Vec<Vec<KeyedRecord>>) -> Result<(), BoxError> {
        let batch = batch.max(1);
        let mut current: Vec<KeyedRecord> = Vec::with_capacity(self.entries.min(batch));
        let mut left = self.entries;
        for (window, partial) in self.windows.take() {
            for (key, (acc, stamp)) in partial {
                if current.len() == batch {
                    left -= batch;
                    out.push(std::mem::replace(
                        &mut current,
                        Vec::with_capacity(left.min(batch)),
                    ));
                }
                current.push(KeyedRecord {
                    key: EncodedKey::of(&key)?,
                    payload: encode_inline(&acc)?,
                    kind: RecordKind::Accumulator,
                    timestamp: stamp.timestamp(&window),
                    window,
                });
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
        self.entries = 0;
        Ok(())
    }
}

/// Folds the records of one (key, window) with the combine function (see
/// [`bounded_grouping`](super::bounded_grouping)).
struct CombineFold<F>(pub(super) F);

impl<F: CombineFn> Fold for CombineFold<F> {
    type State = F::Accumulator;
    type Output = F::Output;
    fn first(&self, kind: RecordKind, payload: &[u8]) -> Result<F::Accumulator, BoxError> {
        Ok(match kind {
            RecordKind::Value => {
                let mut acc = self.0.create_accumulator();
                self.0.add_input(&mut acc, decode(payload)?);
                acc
            }
            RecordKind::Accumulator => decode(payload)?,
        })
    }
    fn add(
        &self,
        acc: &mut F::Accumulator,
        kind: RecordKind,
        payload: &[u8],
    ) -> Result<(), BoxError> {
        match kind {
            RecordKind::Value => self.0.add_input(acc, decode(payload)?),
            RecordKind::Accumulator => self.0.merge_accumulators(acc, decode(payload)?),
        }
        Ok(())
    }
    fn finish(&self, acc: F::Accumulator) -> F::Output {
        self.0.extract_output(&acc)
    }
}

struct CombineKernel<S, F> {
    combine_fn: F,
    timestamp_combiner: TimestampCombiner,
    _s: PhantomData<S>,
}

impl<S: KeySplit, F: CombineFn<Input = S::Value>> GroupKernel for CombineKernel<S, F> {
    fn to_records(&self, input: Bundle, out: &mut Vec<KeyedRecord>) -> Result<(), CoderError> {
        split_to_records::<S>(input, out)
    }
    fn new_state(&self) -> Box<dyn GroupState> {
        Box::new(AccState {
            combine_fn: self.combine_fn.clone(),
            acc: None,
        })
    }
    fn decode_state(&self, bytes: &[u8]) -> Result<Box<dyn GroupState>, CoderError> {
        Ok(Box::new(AccState {
            combine_fn: self.combine_fn.clone(),
            acc: decode(bytes)?,
        }))
    }
    fn bounded_grouping(&self, tc: TimestampCombiner) -> Box<dyn BoundedGrouping> {
        let fold = CombineFold(self.combine_fn.clone());
        match tc {
            TimestampCombiner::EndOfWindow => {
                Box::new(TypedBoundedGrouping::<S::Key, _, ()>::new(fold, tc))
            }
            TimestampCombiner::Earliest | TimestampCombiner::Latest => {
                Box::new(TypedBoundedGrouping::<S::Key, _, Timestamp>::new(fold, tc))
            }
        }
    }
    fn sliced_grouping(
        &self,
        tc: TimestampCombiner,
        slicing: Slicing,
    ) -> Option<Box<dyn BoundedGrouping>> {
        let f = self.combine_fn.clone();
        Some(match tc {
            TimestampCombiner::EndOfWindow => {
                Box::new(SlicedGrouping::<S::Key, F, ()>::new(f, tc, slicing))
            }
            TimestampCombiner::Earliest | TimestampCombiner::Latest => {
                Box::new(SlicedGrouping::<S::Key, F, Timestamp>::new(f, tc, slicing))
            }
        })
    }
    fn pre_combiner(&self) -> Option<Box<dyn PreCombiner>> {
        let (f, tc) = (self.combine_fn.clone(), self.timestamp_combiner);
        Some(match tc {
            TimestampCombiner::EndOfWindow => Box::new(PreCombinerImpl::<S, F, ()>::new(f, tc)),
            TimestampCombiner::Earliest | TimestampCombiner::Latest => {
                Box::new(PreCombinerImpl::<S, F, Timestamp>::new(f, tc))
            }
        })
    }
    fn build_output(&self, panes: Vec<PaneOutput>) -> Result<Bundle, BoxError> {
        panes_to_kvs::<S::Key, F::Output>(panes)
    }
}

/// Combines per key where each input element *is* the key (its value is `()`): the primitive
/// behind `Count::per_element` and `Distinct`, without a pass that pairs elements with `()`.
pub(crate) fn combine_elements_as_keys<T: Key, F: CombineFn<Input = ()>>(
    input: &PCollection<T>,
    combine_fn: F,
) -> PCollection<KV<T, F::Output>> {
    let timestamp_combiner = input.windowing().timestamp_combiner;
    let kernel = CombineKernel::<ElementAsKey<T>, F> {
        combine_fn,
        timestamp_combiner,
        _s: PhantomData,
    };
    add_group_node(input, Arc::new(kernel), SliceUse::Consume)
}

impl<K: Key, F: CombineFn> PTransform<PCollection<KV<K, F::Input>>> for CombinePerKey<F> {
    type Output = PCollection<KV<K, F::Output>>;
    fn expand(self, input: &PCollection<KV<K, F::Input>>) -> Self::Output {
        let timestamp_combiner = input.windowing().timestamp_combiner;
        let kernel = CombineKernel::<SplitKv<K, F::Input>, F> {
            combine_fn: self.0,
            timestamp_combiner,
            _s: PhantomData,
        };
        add_group_node(input, Arc::new(kernel), SliceUse::Consume)
    }
}

/// Emits the output of an empty accumulator when the combined collection is empty.
#[derive(Clone)]
struct InsertDefault<F: CombineFn> {
    combine_fn: F,
    combined: PCollectionView<Vec<F::Output>>,
}

impl<F: CombineFn> DoFn for InsertDefault<F> {
    type In = Vec<u8>;
    type Out = F::Output;
    fn process(
        &mut self,
        _impulse: Vec<u8>,
        ctx: &mut ProcessContext<'_, F::Output>,
    ) -> DoFnResult {
        if ctx.side_input(&self.combined)?.is_empty() {
            let f = &self.combine_fn;
            ctx.output(f.extract_output(&f.create_accumulator()));
        }
        Ok(())
    }
}

impl<F: CombineFn> PTransform<PCollection<F::Input>> for CombineGlobally<F> {
    type Output = PCollection<F::Output>;
    fn expand(self, input: &PCollection<F::Input>) -> Self::Output {
        let p = input.pipeline().clone();
        let plain = |input: &PCollection<F::Input>, f: F| {
            input
                .map("WithVoidKey", |v: F::Input| KV::new((), v))
                .apply("CombinePerKey", Combine::per_key(f))
                .apply("Values", Values)
        };
        if !self.insert_default {
            return plain(input, self.combine_fn);
        }
        if !input.windowing().window_fn.same_as(&GlobalWindows) {
            p.record_error(format!(
                "'{}': Combine::globally inserts a default value only on global windows; use .without_defaults()",
                p.current_name()
            ));
            return plain(input, self.combine_fn);
        }
        if input.windowing().timestamp_combiner == TimestampCombiner::EndOfWindow {
            // One marker element joins the input, so that the combine always emits: the
            // output of an empty accumulator when the input is empty. Needs no side input, so
            // it works in streaming too. (The marker's timestamp would show through an
            // earliest/latest timestamp combiner, hence the other way below.)
            let marker = p
                .apply("Marker", Impulse)
                .map("AsMarker", |_: Vec<u8>| KV::new((), None::<F::Input>));
            let values = input.map("WithVoidKeyAndMarker", |v: F::Input| KV::new((), Some(v)));
            return PCollectionList::of(vec![values, marker])
                .apply("WithMarker", Flatten)
                .apply(
                    "CombineWithDefault",
                    Combine::per_key(SkipMarker(self.combine_fn)),
                )
                .apply("DefaultValues", Values);
        }
        let combined = plain(input, self.combine_fn.clone());
        let view = combined.apply("AsView", View::iterable());
        let defaults = p.apply("Impulse", Impulse).apply(
            "InsertDefault",
            ParDo::of(InsertDefault {
                combine_fn: self.combine_fn,
                combined: view.clone(),
            })
            .with_side_input(&view),
        );
        PCollectionList::of(vec![combined, defaults]).apply("Flatten", Flatten)
    }
}

/// A combine function that skips the marker (`None`) that [`CombineGlobally`] adds.
#[derive(Clone)]
struct SkipMarker<F>(F);

impl<F: CombineFn> CombineFn for SkipMarker<F> {
    type Input = Option<F::Input>;
    type Accumulator = F::Accumulator;
    type Output = F::Output;
    fn create_accumulator(&self) -> F::Accumulator {
        self.0.create_accumulator()
    }
    fn add_input(&self, acc: &mut F::Accumulator, input: Option<F::Input>) {
        if let Some(v) = input {
            self.0.add_input(acc, v);
        }
    }
    fn merge_accumulators(&self, acc: &mut F::Accumulator, other: F::Accumulator) {
        self.0.merge_accumulators(acc, other);
    }
    fn extract_output(&self, acc: &F::Accumulator) -> F::Output {
        self.0.extract_output(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::Sum;
    use crate::transforms::group_by_key::SplitKv;

    /// However many keys it holds, a pre-combiner emits one accumulator per (key, window):
    /// an early spill would leave two for a pair seen before and after it.
    #[test]
    fn flush_emits_one_accumulator_per_live_key_and_window() {
        let mut pc = PreCombinerImpl::<SplitKv<u64, u64>, Sum<u64>, ()>::new(
            Sum::new(),
            TimestampCombiner::EndOfWindow,
        );
        let window = Window::interval(Timestamp::from_secs(0), Timestamp::from_secs(60));
        let keys = 300_000u64;
        for _round in 0..2 {
            let values = (0..keys)
                .map(|k| {
                    WindowedValue::new(
                        KV::new(k, 1u64),
                        Timestamp::from_secs(1),
                        window,
                        Default::default(),
                    )
                })
                .collect::<Vec<_>>();
            pc.add_bundle(Bundle::new(values)).unwrap();
        }
        let mut batches = Vec::new();
        pc.flush(100_000, &mut batches).unwrap();
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [100_000, 100_000, 100_000]
        );
        let out: Vec<KeyedRecord> = batches.into_iter().flatten().collect();
        assert_eq!(out.len(), keys as usize);
        assert!(out.iter().all(|r| r.window == window));
        let total: u64 = out
            .iter()
            .map(|r| crate::element::decode::<u64>(&r.payload).unwrap())
            .sum();
        assert_eq!(total, 2 * keys);
    }
}

//! GroupByKey: all values of a key, per window.

use super::bounded_grouping::{Fold, TypedBoundedGrouping};
use super::pardo::downcast_input;
use crate::element::{CoderError, Element, EncodedKey, Key, decode, encode, encode_inline};
use crate::error::BoxError;
use crate::graph::kernel::{
    BoundedGrouping, GroupKernel, GroupState, KeyedRecord, PaneOutput, PreCombiner, RecordKind,
};
use crate::graph::{Bundle, NodeKind};
use crate::kv::KV;
use crate::pcollection::PCollection;
use crate::pipeline::{OutputSpec, PTransform, SliceUse};
use crate::time::Timestamp;
use crate::trigger::TimestampCombiner;
use crate::windowed_value::WindowedValue;
use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

/// Groups a PCollection of `KV<K, V>` into `KV<K, Vec<V>>`: one output per key, window and
/// pane, holding the values of that pane (in no particular order).
///
/// When the output is emitted is the windowing strategy's business: with the default trigger,
/// once the watermark passes the end of the window (for bounded input: once, at the end).
pub struct GroupByKey;

struct GbkKernel<K, V>(PhantomData<fn(K, V)>);

/// The buffered values of one (key, window).
struct ListState<V> {
    values: Vec<V>,
}

impl<V: Element> GroupState for ListState<V> {
    fn add_run(&mut self, run: &[KeyedRecord]) -> Result<(), BoxError> {
        self.values.reserve(run.len());
        for record in run {
            if record.kind == RecordKind::Accumulator {
                return Err("GroupByKey received a pre-combined accumulator".into());
            }
            self.values.push(decode(&record.payload)?);
        }
        Ok(())
    }
    fn merge(&mut self, other: Box<dyn GroupState>) -> Result<(), BoxError> {
        let other = other
            .into_any()
            .downcast::<ListState<V>>()
            .map_err(|_| "merging states of different transforms")?;
        self.values.extend(other.values);
        Ok(())
    }
    fn extract(&mut self, discarding: bool) -> Result<Box<dyn Any + Send>, BoxError> {
        Ok(Box::new(if discarding {
            std::mem::take(&mut self.values)
        } else {
            self.values.clone()
        }))
    }
    fn clear(&mut self) {
        self.values.clear();
    }
    fn encode(&self) -> Result<Vec<u8>, CoderError> {
        encode(&self.values)
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Collects the values of one (key, window) (see
/// [`bounded_grouping`](super::bounded_grouping)).
struct ListFold<V>(PhantomData<fn() -> V>);

impl<V: Element> Fold for ListFold<V> {
    type State = Vec<V>;
    type Output = Vec<V>;
    fn first(&self, kind: RecordKind, payload: &[u8]) -> Result<Vec<V>, BoxError> {
        let mut values = Vec::new();
        self.add(&mut values, kind, payload)?;
        Ok(values)
    }
    fn add(&self, values: &mut Vec<V>, kind: RecordKind, payload: &[u8]) -> Result<(), BoxError> {
        match kind {
            RecordKind::Value => values.push(decode(payload)?),
            RecordKind::Accumulator => {
                return Err("GroupByKey received a pre-combined accumulator".into());
            }
        }
        Ok(())
    }
    fn finish(&self, values: Vec<V>) -> Vec<V> {
        values
    }
}

/// How a grouping splits its input elements into key and value. Implemented by zero-sized
/// types, so that the split is inlined into the per-element loops.
pub(crate) trait KeySplit: Send + Sync + 'static {
    /// The input element.
    type In: Element;
    /// The key.
    type Key: Key;
    /// The value.
    type Value: Element;
    /// Splits one element.
    fn split(input: Self::In) -> (Self::Key, Self::Value);
}

/// `KV<K, V>` → `(K, V)`.
pub(crate) struct SplitKv<K, V>(PhantomData<fn(K, V)>);

impl<K: Key, V: Element> KeySplit for SplitKv<K, V> {
    type In = KV<K, V>;
    type Key = K;
    type Value = V;
    fn split(kv: KV<K, V>) -> (K, V) {
        (kv.key, kv.value)
    }
}

/// `T` → `(T, ())`: the element is the key.
pub(crate) struct ElementAsKey<T>(PhantomData<fn(T)>);

impl<T: Key> KeySplit for ElementAsKey<T> {
    type In = T;
    type Key = T;
    type Value = ();
    fn split(t: T) -> (T, ()) {
        (t, ())
    }
}

/// Encodes input elements, split into key and value, into shuffle records.
pub(crate) fn split_to_records<S: KeySplit>(
    input: Bundle,
    out: &mut Vec<KeyedRecord>,
) -> Result<(), CoderError> {
    let values: Vec<WindowedValue<S::In>> =
        downcast_input(input).map_err(|e| CoderError(e.to_string()))?;
    out.reserve(values.len());
    for wv in values {
        let (key, value) = S::split(wv.value);
        out.push(KeyedRecord {
            key: EncodedKey::of(&key)?,
            payload: encode_inline(&value)?,
            kind: RecordKind::Value,
            timestamp: wv.timestamp,
            window: wv.window,
        });
    }
    Ok(())
}

/// Turns panes whose values are `O` into `KV<K, O>` elements.
pub(crate) fn panes_to_kvs<K: Key, O: Element>(panes: Vec<PaneOutput>) -> Result<Bundle, BoxError> {
    let mut out = Vec::with_capacity(panes.len());
    for p in panes {
        let value = *p
            .value
            .downcast::<O>()
            .map_err(|_| "pane output has an unexpected type")?;
        out.push(WindowedValue::new(
            KV::new(p.key.decode::<K>()?, value),
            p.timestamp,
            p.window,
            p.pane,
        ));
    }
    Ok(Bundle::new(out))
}

impl<K: Key, V: Element> GroupKernel for GbkKernel<K, V> {
    fn to_records(&self, input: Bundle, out: &mut Vec<KeyedRecord>) -> Result<(), CoderError> {
        split_to_records::<SplitKv<K, V>>(input, out)
    }
    fn new_state(&self) -> Box<dyn GroupState> {
        Box::new(ListState::<V> { values: Vec::new() })
    }
    fn decode_state(&self, bytes: &[u8]) -> Result<Box<dyn GroupState>, CoderError> {
        Ok(Box::new(ListState::<V> {
            values: decode(bytes)?,
        }))
    }
    fn bounded_grouping(&self, tc: TimestampCombiner) -> Box<dyn BoundedGrouping> {
        match tc {
            TimestampCombiner::EndOfWindow => Box::new(
                TypedBoundedGrouping::<K, ListFold<V>, ()>::new(ListFold(PhantomData), tc),
            ),
            TimestampCombiner::Earliest | TimestampCombiner::Latest => Box::new(
                TypedBoundedGrouping::<K, ListFold<V>, Timestamp>::new(ListFold(PhantomData), tc),
            ),
        }
    }
    fn pre_combiner(&self) -> Option<Box<dyn PreCombiner>> {
        None
    }
    fn build_output(&self, panes: Vec<PaneOutput>) -> Result<Bundle, BoxError> {
        panes_to_kvs::<K, Vec<V>>(panes)
    }
}

/// Adds a grouping node with `kernel`, producing `KV<K, O>` with the input's windowing.
pub(crate) fn add_group_node<I, O>(
    input: &PCollection<I>,
    kernel: Arc<dyn GroupKernel>,
    slices: SliceUse,
) -> PCollection<O> {
    let info = input.pipeline().collection_info(input.id());
    let spec = OutputSpec::of::<O>(info.boundedness, info.windowing);
    let (_, outs) = input.pipeline().add_primitive_with_slices(
        NodeKind::GroupByKey(kernel),
        vec![input.id()],
        vec![],
        vec![spec],
        slices,
    );
    input.pipeline().handle(outs[0])
}

impl<K: Key, V: Element> PTransform<PCollection<KV<K, V>>> for GroupByKey {
    type Output = PCollection<KV<K, Vec<V>>>;
    fn expand(self, input: &PCollection<KV<K, V>>) -> Self::Output {
        add_group_node(
            input,
            Arc::new(GbkKernel::<K, V>(PhantomData)),
            SliceUse::Explode,
        )
    }
}

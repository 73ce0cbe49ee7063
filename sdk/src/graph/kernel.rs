//! The typed code a transform hands to runners, behind object-safe traits.
//!
//! A transform knows its element types when it is applied; a runner never does. So each
//! primitive transform leaves in the graph a *kernel*: a trait object that does the typed part
//! of its work on whole [`Bundle`]s, while the runner does the rest (scheduling, shuffling,
//! windowing, triggering). The kernels are the contract between the model and the runners.
//!
//! | node            | kernel              | the runner does                         |
//! |-----------------|---------------------|-----------------------------------------|
//! | Read            | [`SourceKernel`]    | splits, reads, assigns bundles          |
//! | ParDo           | [`OperatorFactory`] | instantiates, fuses, calls per bundle   |
//! | GroupByKey, Combine | [`GroupKernel`] | shuffles, GroupAlsoByWindow, lifting   |
//! | stateful ParDo  | [`StatefulKernel`]  | shuffles, keeps state and timers, fires |
//! | View            | [`ViewKernel`]      | materializes before consumers run       |

use super::bundle::Bundle;
use crate::element::{CoderError, EncodedKey};
use crate::error::BoxError;
use crate::metrics::MetricsContainer;
use crate::pane::PaneInfo;
use crate::time::Timestamp;
use crate::window::Window;
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

/// Identifies a side-input view in the graph (the id of its View node).
pub type ViewId = usize;

/// The materialized side inputs an operator may read, by view id.
#[derive(Clone, Default)]
pub struct SideInputs(pub HashMap<ViewId, Arc<dyn Any + Send + Sync>>);

/// Creates the operator instances of a ParDo (one per worker or stage run).
pub trait OperatorFactory: Send + Sync {
    /// A new instance, with its setup done.
    fn create(&self, side_inputs: &SideInputs) -> Result<Box<dyn Operator>, BoxError>;
    /// Number of output ports (1 + tagged outputs, or the partition count).
    fn output_ports(&self) -> usize;
    /// At most how many outputs one input element yields, when the transform knows (1 by
    /// default). A runner hands an operator that multiplies its input (WindowInto with sliding
    /// windows) chunks of input small enough that one call yields a bounded number of outputs.
    fn max_outputs_per_input(&self) -> u64 {
        1
    }
}

/// One running instance of an element-wise transform.
///
/// Each call returns the bundles produced on every output port, in port order.
pub trait Operator: Send {
    /// Called before the elements of a bundle.
    fn start_bundle(&mut self) -> Result<Vec<Bundle>, BoxError>;
    /// Processes a bundle of input.
    fn process(&mut self, input: Bundle) -> Result<Vec<Bundle>, BoxError>;
    /// Called after the elements of a bundle.
    fn finish_bundle(&mut self) -> Result<Vec<Bundle>, BoxError>;
    /// Called once when the instance is discarded.
    fn teardown(&mut self);
    /// Takes the metrics reported since the last call.
    fn take_metrics(&mut self) -> MetricsContainer;
    /// Replaces the side inputs the instance reads (a streaming runner updates them as the
    /// views receive data). Operators without side inputs ignore it.
    fn update_side_inputs(&mut self, side_inputs: &SideInputs) {
        let _ = side_inputs;
    }
    /// See [`DoFn::commit_on_checkpoints`](crate::dofn::DoFn::commit_on_checkpoints).
    fn commit_on_checkpoints(&mut self, writer: u32) -> Result<(), BoxError> {
        let _ = writer;
        Ok(())
    }
    /// See [`DoFn::prepare_commit`](crate::dofn::DoFn::prepare_commit).
    fn prepare_commit(
        &mut self,
        checkpoint: crate::commit::CheckpointId,
    ) -> Result<Option<Vec<u8>>, BoxError> {
        let _ = checkpoint;
        Ok(None)
    }
    /// See [`DoFn::commit`](crate::dofn::DoFn::commit).
    fn commit(&mut self, prepared: &[u8]) -> Result<(), BoxError> {
        let _ = prepared;
        Ok(())
    }
    /// See [`DoFn::recover`](crate::dofn::DoFn::recover).
    fn recover(&mut self, prepared: &[Vec<u8>]) -> Result<(), BoxError> {
        let _ = prepared;
        Ok(())
    }
    /// See [`DoFn::committed_checkpoint`](crate::dofn::DoFn::committed_checkpoint).
    fn committed_checkpoint(&mut self) -> Result<Option<crate::commit::CheckpointId>, BoxError> {
        Ok(None)
    }
    /// See [`DoFn::commits_repeatable`](crate::dofn::DoFn::commits_repeatable).
    fn commits_repeatable(&self) -> bool {
        true
    }
}

/// Reads a bounded source.
pub trait SourceKernel: Send + Sync {
    /// Splits into about `desired` parts that can be read independently, for a runner that
    /// reads at most `readers` of them at once (see [`BoundedSource::split_for_readers`]).
    ///
    /// [`BoundedSource::split_for_readers`]: crate::source::BoundedSource::split_for_readers
    fn split(&self, desired: usize, readers: usize)
    -> Result<Vec<Arc<dyn SourceKernel>>, BoxError>;
    /// Estimated size in bytes, if known.
    fn estimated_size_bytes(&self) -> Option<u64>;
    /// Starts reading.
    fn reader(&self) -> Result<Box<dyn BundleReader>, BoxError>;
}

/// Yields the contents of a source a bundle at a time.
pub trait BundleReader: Send {
    /// The next bundle of at most `max` values, or `None` at the end.
    fn next_bundle(&mut self, max: usize) -> Result<Option<Bundle>, BoxError>;
    /// How many bytes of the source this reader has consumed so far, if it knows.
    fn consumed_bytes(&self) -> Option<u64> {
        None
    }
}

/// Whether a keyed record carries an input value or a partial accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// An encoded input value.
    Value,
    /// An encoded accumulator from a lifted (partial) combine.
    Accumulator,
}

/// A keyed element on its way through a shuffle: key and payload encoded.
#[derive(Clone, Debug)]
pub struct KeyedRecord {
    /// The encoded key.
    pub key: EncodedKey,
    /// The encoded value or accumulator.
    pub payload: crate::element::EncodedBytes,
    /// What the payload is.
    pub kind: RecordKind,
    /// Event timestamp (for accumulators: the combined timestamp of their inputs).
    pub timestamp: Timestamp,
    /// Window.
    pub window: Window,
}

/// The state of one (key, window) in a grouping transform: its buffered values or accumulator.
pub trait GroupState: Send {
    /// Adds a run of records of this state's key and window (encoded input values or
    /// partial accumulators), in order: one call per run, a typed loop inside.
    fn add_run(&mut self, run: &[KeyedRecord]) -> Result<(), BoxError>;
    /// Merges another state of the same transform into this one (session merging).
    fn merge(&mut self, other: Box<dyn GroupState>) -> Result<(), BoxError>;
    /// The output for a pane: the grouped values or the extracted combine output. With
    /// `discarding`, the pane discards the state afterwards, so the state may hand its
    /// contents over instead of copying them.
    fn extract(&mut self, discarding: bool) -> Result<Box<dyn Any + Send>, BoxError>;
    /// Forgets everything (after a pane in discarding mode).
    fn clear(&mut self);
    /// The state, encoded for a snapshot (see [`GroupKernel::decode_state`]).
    fn encode(&self) -> Result<Vec<u8>, CoderError>;
    /// For [`merge`](Self::merge): the concrete state.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

/// Groups one shard of bounded input whose every (key, window) fires exactly one pane, at the
/// end: the default trigger over windows that do not merge (see
/// [`bounded_grouping`](crate::transforms::bounded_grouping)). Typed, one entry per
/// (key, window), no trigger or pane bookkeeping.
pub trait BoundedGrouping: Send {
    /// Adds a batch of keyed records.
    fn add(&mut self, records: Vec<KeyedRecord>) -> Result<(), BoxError>;
    /// Takes out the results of up to `max` (key, window) pairs as output elements `KV<K,
    /// Output>`, each the on-time and only pane of its pair; an empty bundle once all were
    /// taken. No record may be added afterwards.
    fn take_output(&mut self, max: usize) -> Result<Bundle, BoxError>;
}

/// Combines inputs per key and window before a shuffle (combiner lifting).
pub trait PreCombiner: Send {
    /// Adds a bundle of `KV<K, V>` inputs to the partial accumulators: one per live (key,
    /// window) until [`flush`](Self::flush), never more than the grouping after the shuffle
    /// holds.
    fn add_bundle(&mut self, input: Bundle) -> Result<(), BoxError>;
    /// Emits the partial accumulators gathered so far, in batches of at most `batch` records
    /// (a shuffle then moves and frees them a batch at a time), and forgets them.
    fn flush(&mut self, batch: usize, out: &mut Vec<Vec<KeyedRecord>>) -> Result<(), BoxError>;
}

/// One pane of a grouping transform, ready to become an output element.
pub struct PaneOutput {
    /// The key.
    pub key: EncodedKey,
    /// The window.
    pub window: Window,
    /// The pane's timestamp.
    pub timestamp: Timestamp,
    /// The pane.
    pub pane: PaneInfo,
    /// What [`GroupState::extract`] returned.
    pub value: Box<dyn Any + Send>,
}

/// The typed part of GroupByKey and Combine.perKey.
pub trait GroupKernel: Send + Sync {
    /// Encodes a bundle of `KV<K, V>` into keyed records.
    fn to_records(&self, input: Bundle, out: &mut Vec<KeyedRecord>) -> Result<(), CoderError>;
    /// A fresh, empty state for one (key, window).
    fn new_state(&self) -> Box<dyn GroupState>;
    /// A state from what its [`GroupState::encode`] wrote.
    fn decode_state(&self, bytes: &[u8]) -> Result<Box<dyn GroupState>, CoderError>;
    /// A grouping for a bounded shard whose (key, window) pairs each fire once, at the end,
    /// with output timestamps as `timestamp_combiner` decides.
    fn bounded_grouping(
        &self,
        timestamp_combiner: crate::trigger::TimestampCombiner,
    ) -> Box<dyn BoundedGrouping>;
    /// For a Combine whose input sits in slices of `slicing` (see
    /// [`Sliced`](crate::graph::Sliced)): a grouping like
    /// [`bounded_grouping`](Self::bounded_grouping) that accumulates per (key, slice) and
    /// merges a window's slices for its result. `None` (the default) for a transform that
    /// needs each window's elements: the runner then explodes the records into their windows.
    fn sliced_grouping(
        &self,
        timestamp_combiner: crate::trigger::TimestampCombiner,
        slicing: crate::window::Slicing,
    ) -> Option<Box<dyn BoundedGrouping>> {
        let _ = (timestamp_combiner, slicing);
        None
    }
    /// A pre-combiner, if this transform can be lifted (Combine.perKey can, GroupByKey cannot).
    fn pre_combiner(&self) -> Option<Box<dyn PreCombiner>>;
    /// Turns panes into a bundle of output elements `KV<K, Output>`.
    fn build_output(&self, panes: Vec<PaneOutput>) -> Result<Bundle, BoxError>;
}

/// What a runner lends a stateful operator for one call: the state of one key and window,
/// and where the call's timer requests go.
pub struct StateScope<'a> {
    /// The state cells of the key and window.
    pub slot: &'a mut crate::state::StateSlot,
    /// Timer requests of the call, applied by the runner afterwards.
    pub timers: &'a mut Vec<crate::state::TimerOp>,
    /// The window.
    pub window: Window,
    /// When the window expires (see [`WindowingStrategy::expiry`]).
    ///
    /// [`WindowingStrategy::expiry`]: crate::windowing::WindowingStrategy::expiry
    pub expiry: Timestamp,
    /// The runner's processing time.
    pub processing_time: Timestamp,
}

/// One running instance of a stateful ParDo. Its calls take the key in its encoded form; the
/// instance decodes it (once for a run of calls with the same key).
///
/// Elements come a **run** at a time: consecutive records of one key and window, which share
/// a state slot. The instance loops over them in typed code; the runner pays one dynamic call
/// per run, not per element.
pub trait StatefulOperator: Send {
    /// Processes, in order, the records of `run` (all of `key` and of the window of `scope`):
    /// always the first; then each next one whose timestamp is before `until` (a timer of the
    /// runner due then must fire first), stopping after a record whose call asked for a timer
    /// when `stop_at_timer` is set (the runner then fires what is due). Returns how many it
    /// processed.
    fn process_run(
        &mut self,
        key: &EncodedKey,
        run: &[KeyedRecord],
        until: Timestamp,
        stop_at_timer: bool,
        scope: StateScope<'_>,
    ) -> Result<usize, BoxError>;
    /// A timer of `key` fires.
    fn on_timer(
        &mut self,
        key: &EncodedKey,
        timer: &crate::state::FiredTimer,
        scope: StateScope<'_>,
    ) -> Result<(), BoxError>;
    /// The window of `key` in `scope` expires.
    fn on_window_expiration(
        &mut self,
        key: &EncodedKey,
        scope: StateScope<'_>,
    ) -> Result<(), BoxError>;
    /// Takes the outputs produced so far, as one bundle.
    fn take_output(&mut self) -> Result<Bundle, BoxError>;
    /// Takes the metrics reported since the last call.
    fn take_metrics(&mut self) -> MetricsContainer;
    /// Called once when the instance is discarded.
    fn teardown(&mut self);
}

/// The typed part of a stateful ParDo.
pub trait StatefulKernel: Send + Sync {
    /// Encodes a bundle of `KV<K, V>` into keyed records.
    fn to_records(&self, input: Bundle, out: &mut Vec<KeyedRecord>) -> Result<(), CoderError>;
    /// The state and timers the DoFn declared.
    fn declarations(&self) -> &crate::state::Declarations;
    /// Whether the DoFn acts on window expiration.
    fn has_window_expiration(&self) -> bool;
    /// Whether the DoFn takes each key's elements in timestamp order (see
    /// [`StatefulDoFn::requires_time_sorted_input`](crate::stateful::StatefulDoFn::requires_time_sorted_input)).
    fn requires_time_sorted_input(&self) -> bool;
    /// A new instance, with its setup done.
    fn create(&self, side_inputs: &SideInputs) -> Result<Box<dyn StatefulOperator>, BoxError>;
}

/// The typed part of a side-input view.
pub trait ViewKernel: Send + Sync {
    /// Builds the view's per-window contents from all bundles of its input.
    fn materialize(&self, input: Vec<Bundle>) -> Result<Arc<dyn Any + Send + Sync>, BoxError>;
    /// Encodes a bundle of the view's input (values and windows: what
    /// [`materialize`](Self::materialize) reads), for a runner that sends it to other
    /// processes.
    fn encode_input(&self, input: Bundle) -> Result<Vec<u8>, BoxError>;
    /// Decodes what [`encode_input`](Self::encode_input) wrote.
    fn decode_input(&self, bytes: &[u8]) -> Result<Bundle, BoxError>;
}

/// One step of a test stream, as the runner replays it.
#[derive(Clone, Debug)]
pub enum TestStreamEvent {
    /// Elements arrive (one bundle).
    Elements(Bundle),
    /// The source's watermark advances to this timestamp.
    Watermark(crate::time::Timestamp),
    /// Processing time advances by this much.
    ProcessingTime(crate::time::Duration),
}

/// The script of a `TestStream`.
pub trait TestStreamKernel: Send + Sync {
    /// The events, in order.
    fn events(&self) -> Vec<TestStreamEvent>;
}

/// Reads an unbounded source.
pub trait UnboundedSourceKernel: Send + Sync {
    /// Splits into about `desired` parts read independently.
    fn split(&self, desired: usize) -> Result<Vec<Arc<dyn UnboundedSourceKernel>>, BoxError>;
    /// Starts reading.
    fn reader(&self) -> Result<Box<dyn UnboundedBundleReader>, BoxError>;
    /// Starts reading where a checkpoint left off (see
    /// [`UnboundedSource::resume`](crate::source::UnboundedSource::resume)).
    fn resume(&self, positions: &[Vec<u8>]) -> Result<Box<dyn UnboundedBundleReader>, BoxError>;
}

/// Yields the contents of an unbounded source a bundle at a time.
#[async_trait::async_trait]
pub trait UnboundedBundleReader: Send {
    /// The next bundle (possibly empty), or `None` once the source has ended.
    async fn next_bundle(&mut self, max: usize) -> Result<Option<Bundle>, BoxError>;
    /// The source's watermark.
    fn watermark(&self) -> crate::time::Timestamp;
    /// Whether the reader is idle (see [`UnboundedReader::is_idle`](crate::source::UnboundedReader::is_idle)).
    fn is_idle(&self) -> bool {
        false
    }
    /// A checkpoint of what was read so far, if supported.
    fn checkpoint(&mut self) -> Option<Box<dyn crate::source::CheckpointMark>> {
        None
    }
}

//! [`DoFn`]: user code applied to each element by a ParDo.
//!
//! A runner creates instances of a DoFn by cloning the one given to [`ParDo::of`](crate::transforms::ParDo::of);
//! each instance lives through this life cycle:
//!
//! 1. [`setup`](DoFn::setup) once;
//! 2. for each bundle: [`start_bundle`](DoFn::start_bundle), [`process`](DoFn::process) per
//!    element, [`finish_bundle`](DoFn::finish_bundle);
//! 3. [`teardown`](DoFn::teardown) once.
//!
//! `process` sees the element's timestamp, window and pane through its [`ProcessContext`] and
//! emits outputs through it: to the main output (with the input's timestamp and window, or a
//! later timestamp), or to tagged outputs. Outputs in `start_bundle` and `finish_bundle` name
//! their timestamp and window explicitly. A runner may retry a bundle, so a DoFn must tolerate
//! being run again on the same elements.
//!
//! ```
//! use sluice_sdk::prelude::*;
//!
//! #[derive(Clone)]
//! struct ParseInts;
//! impl DoFn for ParseInts {
//!     type In = String;
//!     type Out = i64;
//!     fn process(&mut self, line: String, ctx: &mut ProcessContext<'_, i64>) -> DoFnResult {
//!         match line.trim().parse::<i64>() {
//!             Ok(n) => ctx.output(n),
//!             Err(_) => ctx.metrics().counter("malformed").inc(),
//!         }
//!         Ok(())
//!     }
//! }
//! let p = Pipeline::new();
//! let ints = p.apply("Lines", Create::of(vec!["1".to_string(), "x".to_string()]))
//!     .apply("Parse", ParDo::of(ParseInts));
//! # let _ = ints;
//! ```

use crate::element::{CoderError, Element};
use crate::error::BoxError;
use crate::graph::Bundle;
use crate::graph::kernel::SideInputs;
use crate::metrics::MetricsContainer;
use crate::pane::PaneInfo;
use crate::side_input::{PCollectionView, SideInputError, ViewData};
use crate::time::Timestamp;
use crate::window::Window;
use crate::windowed_value::WindowedValue;
use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What DoFn methods return: `Ok(())`, or an error that fails the pipeline naming the transform.
pub type DoFnResult = Result<(), BoxError>;

/// Per-element user code of a ParDo. See the [module documentation](self).
pub trait DoFn: Clone + Send + Sync + 'static {
    /// Input element type.
    type In: Element;
    /// Main output element type.
    type Out: Element;

    /// Prepares an instance (open connections, load models). Called once per instance.
    fn setup(&mut self) -> DoFnResult {
        Ok(())
    }
    /// Called before each bundle.
    fn start_bundle(&mut self, ctx: &mut BundleContext<'_, Self::Out>) -> DoFnResult {
        let _ = ctx;
        Ok(())
    }
    /// Processes one element.
    fn process(&mut self, element: Self::In, ctx: &mut ProcessContext<'_, Self::Out>)
    -> DoFnResult;
    /// Called after each bundle; outputs here name their timestamp and window.
    fn finish_bundle(&mut self, ctx: &mut BundleContext<'_, Self::Out>) -> DoFnResult {
        let _ = ctx;
        Ok(())
    }
    /// Releases what `setup` acquired. Called once per instance, when the runner discards it.
    fn teardown(&mut self) {}

    /// The run commits this DoFn's writes on checkpoints (`--exactly-once`): from now on it
    /// keeps them pending until [`prepare_commit`](Self::prepare_commit) and
    /// [`commit`](Self::commit) (see [`commit`](crate::commit)). Called once, after `setup`;
    /// a DoFn that writes nothing outside the pipeline ignores it.
    ///
    /// `writer` tells this instance from the transform's others running at the same time, and
    /// is the same after a restart of the same parallelism (0 on the direct runner; the
    /// worker's index on the timely runner), as Flink's subtask index: a sink keeps its
    /// pending writes apart by it, so that [`recover`](Self::recover) discards only its own.
    fn commit_on_checkpoints(&mut self, writer: u32) -> DoFnResult {
        let _ = writer;
        Ok(())
    }
    /// At checkpoint `checkpoint`, between bundles: closes the writes pending since the last
    /// one and describes them for [`commit`](Self::commit) (`None`: nothing to commit).
    fn prepare_commit(
        &mut self,
        checkpoint: crate::commit::CheckpointId,
    ) -> Result<Option<Vec<u8>>, BoxError> {
        let _ = checkpoint;
        Ok(None)
    }
    /// Makes visible the writes `prepared` describes, once the checkpoint that stored it is
    /// complete. Committing the same writes again must do no harm.
    fn commit(&mut self, prepared: &[u8]) -> DoFnResult {
        let _ = prepared;
        Ok(())
    }
    /// At the start of a run restored from a checkpoint: commits what the checkpoint stored
    /// (its commit may not have happened before the crash) and discards any other pending
    /// writes a crashed run left. By default, commits each.
    fn recover(&mut self, prepared: &[Vec<u8>]) -> DoFnResult {
        prepared.iter().try_for_each(|p| self.commit(p))
    }
    /// At the start of a restored run, for a sink whose commits cannot be repeated (a Kafka
    /// transaction aborted by the crash is gone): the newest checkpoint whose writes it knows
    /// are committed, or `None` when it cannot tell or its commits can be repeated. The runner
    /// restores a checkpoint whose commit a crash interrupted only if no sink says it was not
    /// committed (see [`commit`](crate::commit)).
    fn committed_checkpoint(&mut self) -> Result<Option<crate::commit::CheckpointId>, BoxError> {
        Ok(None)
    }
    /// Whether committing the same writes twice does no harm (files renamed into place: yes;
    /// a Kafka transaction: no, a crash may abort it). The runner commits the writes that
    /// cannot be repeated first, so that a crash between two sinks' commits leaves only
    /// repeatable ones to do again.
    fn commits_repeatable(&self) -> bool {
        true
    }
}

static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// Names an additional output of a ParDo, with its element type.
pub struct TupleTag<T> {
    id: u64,
    name: Arc<str>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for TupleTag<T> {
    fn clone(&self) -> Self {
        TupleTag {
            id: self.id,
            name: self.name.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Element> TupleTag<T> {
    /// A new tag; `name` appears in error messages and output names.
    pub fn new(name: &str) -> Self {
        TupleTag {
            id: NEXT_TAG.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            _t: PhantomData,
        }
    }
    /// The tag's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
    pub(crate) fn erase(&self) -> ErasedTag {
        ErasedTag {
            id: self.id,
            name: self.name.clone(),
            element_type: std::any::type_name::<T>(),
            new_buffer: || Box::new(Vec::<WindowedValue<T>>::new()),
        }
    }
}

/// A tag without its type, as a ParDo keeps it.
#[derive(Clone)]
pub(crate) struct ErasedTag {
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    pub(crate) element_type: &'static str,
    pub(crate) new_buffer: fn() -> Box<dyn TaggedBuffer>,
}

pub(crate) trait TaggedBuffer: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn take_bundle(&mut self) -> Bundle;
    /// Moves the values out, encoded and marked with `port` (see [`crate::transforms::tagged`]).
    fn take_encoded(
        &mut self,
        port: u32,
        out: &mut Vec<WindowedValue<EncodedOutput>>,
    ) -> Result<(), CoderError>;
    /// Decodes one value that [`take_encoded`](Self::take_encoded) encoded, and keeps it.
    fn push_encoded(&mut self, encoded: WindowedValue<EncodedOutput>) -> Result<(), CoderError>;
}

/// An output value encoded with the port it goes to (0: the main output; `i`: the `i`-th tag).
pub(crate) type EncodedOutput = (u32, Vec<u8>);

impl<T: Element> TaggedBuffer for Vec<WindowedValue<T>> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn take_bundle(&mut self) -> Bundle {
        Bundle::new(std::mem::take(self))
    }
    fn take_encoded(
        &mut self,
        port: u32,
        out: &mut Vec<WindowedValue<EncodedOutput>>,
    ) -> Result<(), CoderError> {
        for wv in self.drain(..) {
            let bytes = crate::element::encode(&wv.value)?;
            out.push(WindowedValue::new(
                (port, bytes),
                wv.timestamp,
                wv.window,
                wv.pane,
            ));
        }
        Ok(())
    }
    fn push_encoded(&mut self, encoded: WindowedValue<EncodedOutput>) -> Result<(), CoderError> {
        let value: T = crate::element::decode(&encoded.value.1)?;
        self.push(WindowedValue::new(
            value,
            encoded.timestamp,
            encoded.window,
            encoded.pane,
        ));
        Ok(())
    }
}

/// Where a DoFn's outputs, metrics and side inputs live while it runs.
pub(crate) struct Outputs<O> {
    pub(crate) main: Vec<WindowedValue<O>>,
    pub(crate) tagged: Vec<(u64, Arc<str>, Box<dyn TaggedBuffer>)>,
    pub(crate) metrics: MetricsContainer,
    pub(crate) side_inputs: SideInputs,
}

impl<O: Element> Outputs<O> {
    pub(crate) fn new(tags: &[ErasedTag], side_inputs: SideInputs) -> Self {
        Outputs {
            main: Vec::new(),
            tagged: tags
                .iter()
                .map(|t| (t.id, t.name.clone(), (t.new_buffer)()))
                .collect(),
            metrics: MetricsContainer::default(),
            side_inputs,
        }
    }
    pub(crate) fn take_bundles(&mut self) -> Vec<Bundle> {
        let mut out = Vec::with_capacity(1 + self.tagged.len());
        // The next bundle likely produces about as much: start it at that capacity.
        let expected = self.main.len();
        out.push(Bundle::new(std::mem::replace(
            &mut self.main,
            Vec::with_capacity(expected),
        )));
        for (_, _, buf) in &mut self.tagged {
            out.push(buf.take_bundle());
        }
        out
    }
    pub(crate) fn push_tagged<T: Element>(
        &mut self,
        tag: &TupleTag<T>,
        wv: WindowedValue<T>,
    ) -> DoFnResult {
        for (id, _, buf) in &mut self.tagged {
            if *id == tag.id()
                && let Some(v) = buf.as_any_mut().downcast_mut::<Vec<WindowedValue<T>>>()
            {
                v.push(wv);
                return Ok(());
            }
        }
        Err(format!(
            "output tag '{}' was not declared with with_output on the ParDo",
            tag.name()
        )
        .into())
    }
}

/// The context of one [`DoFn::process`] call.
pub struct ProcessContext<'a, O> {
    pub(crate) timestamp: Timestamp,
    pub(crate) window: Window,
    pub(crate) pane: PaneInfo,
    pub(crate) out: &'a mut Outputs<O>,
}

impl<O: Element> ProcessContext<'_, O> {
    /// The element's event timestamp.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }
    /// The element's window.
    pub fn window(&self) -> Window {
        self.window
    }
    /// The pane that produced the element.
    pub fn pane(&self) -> PaneInfo {
        self.pane
    }
    /// Emits to the main output, with the element's timestamp and window.
    pub fn output(&mut self, value: O) {
        self.out.main.push(WindowedValue::new(
            value,
            self.timestamp,
            self.window,
            self.pane,
        ));
    }
    /// Emits to the main output with another timestamp, which may not be earlier than the
    /// element's (an earlier one could be behind the watermark).
    pub fn output_with_timestamp(&mut self, value: O, timestamp: Timestamp) -> DoFnResult {
        if timestamp < self.timestamp {
            return Err(format!(
                "cannot output with timestamp {timestamp}: it is before the input element's timestamp {}",
                self.timestamp
            )
            .into());
        }
        self.out
            .main
            .push(WindowedValue::new(value, timestamp, self.window, self.pane));
        Ok(())
    }
    /// Emits to a tagged output declared with `ParDo::with_outputs`.
    pub fn output_tagged<T: Element>(&mut self, tag: &TupleTag<T>, value: T) -> DoFnResult {
        let wv = WindowedValue::new(value, self.timestamp, self.window, self.pane);
        self.out.push_tagged(tag, wv)
    }
    /// The value of a side input for this element's window.
    pub fn side_input<V: Send + Sync + 'static>(
        &self,
        view: &PCollectionView<V>,
    ) -> Result<&V, SideInputError> {
        read_side_input(&self.out.side_inputs, view, &self.window)
    }
    /// The metrics of this transform.
    pub fn metrics(&mut self) -> &mut MetricsContainer {
        &mut self.out.metrics
    }
}

pub(crate) fn read_side_input<'s, V: Send + Sync + 'static>(
    side_inputs: &'s SideInputs,
    view: &PCollectionView<V>,
    main_window: &Window,
) -> Result<&'s V, SideInputError> {
    let data = side_inputs.0.get(&view.id()).ok_or_else(|| {
        SideInputError(format!(
            "side input '{}' was not declared with ParDo::with_side_input",
            view.name()
        ))
    })?;
    let data = data
        .downcast_ref::<ViewData<V>>()
        .ok_or_else(|| SideInputError(format!("side input '{}' has another type", view.name())))?;
    data.get(main_window)
        .map_err(|e| SideInputError(format!("side input '{}': {e}", view.name())))
}

/// The context of [`DoFn::start_bundle`] and [`DoFn::finish_bundle`].
pub struct BundleContext<'a, O> {
    pub(crate) out: &'a mut Outputs<O>,
}

impl<O: Element> BundleContext<'_, O> {
    /// Emits to the main output at `timestamp` in `window`.
    pub fn output(&mut self, value: O, timestamp: Timestamp, window: Window) {
        self.out.main.push(WindowedValue::new(
            value,
            timestamp,
            window,
            PaneInfo::NO_FIRING,
        ));
    }
    /// Emits to a tagged output at `timestamp` in `window`.
    pub fn output_tagged<T: Element>(
        &mut self,
        tag: &TupleTag<T>,
        value: T,
        timestamp: Timestamp,
        window: Window,
    ) -> DoFnResult {
        self.out.push_tagged(
            tag,
            WindowedValue::new(value, timestamp, window, PaneInfo::NO_FIRING),
        )
    }
    /// The metrics of this transform.
    pub fn metrics(&mut self) -> &mut MetricsContainer {
        &mut self.out.metrics
    }
}

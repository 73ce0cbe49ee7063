//! The stateful ParDo: applies a [`StatefulDoFn`] to a keyed PCollection.
//!
//! It is a primitive of its own ([`NodeKind::StatefulParDo`]): like a GroupByKey it makes the
//! runner bring every element of a key to one place, and its kernel then runs the DoFn per
//! element with the state of the element's key and window (see [`crate::stateful`]).

use super::group_by_key::{SplitKv, split_to_records};
use super::pardo::PCollectionTuple;
use super::pardo::ParDo;
use crate::dofn::{DoFnResult, EncodedOutput, ErasedTag, Outputs, TupleTag};
use crate::element::{CoderError, Element, EncodedKey, decode};
use crate::error::BoxError;
use crate::graph::kernel::{KeyedRecord, SideInputs, StateScope, StatefulKernel, StatefulOperator};
use crate::graph::{Bundle, NodeKind};
use crate::kv::KV;
use crate::metrics::MetricsContainer;
use crate::pcollection::PCollection;
use crate::pipeline::{OutputSpec, PTransform};
use crate::side_input::PCollectionView;
use crate::state::{Declarations, FiredTimer, TimerId};
use crate::stateful::{Ctx, ExpiryCallback, StatefulContext, StatefulDoFn, TimerCallback};
use crate::time::Timestamp;
use std::sync::Arc;

/// A ParDo running a [`StatefulDoFn`]; see [`ParDo::stateful`].
pub struct StatefulParDo<F> {
    pub(crate) dofn: F,
    side_inputs: Vec<usize>,
}

impl ParDo<()> {
    /// A ParDo running the stateful `dofn` over a `KV<K, V>` input.
    pub fn stateful<F: StatefulDoFn>(dofn: F) -> StatefulParDo<F> {
        StatefulParDo {
            dofn,
            side_inputs: Vec::new(),
        }
    }
}

impl<F: StatefulDoFn> StatefulParDo<F> {
    /// Declares a side input that the DoFn reads with `ctx.side_input(&view)`.
    pub fn with_side_input<V>(mut self, view: &PCollectionView<V>) -> Self {
        self.side_inputs.push(view.id());
        self
    }
    /// Declares a tagged output, which the DoFn writes with `ctx.output_tagged(&tag, value)`;
    /// the ParDo then yields a [`PCollectionTuple`].
    pub fn with_output<T: Element>(self, tag: &TupleTag<T>) -> StatefulParDoWithOutputs<F> {
        StatefulParDoWithOutputs {
            pardo: self,
            tags: vec![tag.erase()],
        }
    }
}

/// A stateful ParDo with tagged outputs; see [`StatefulParDo::with_output`]. Its outputs leave
/// the keyed primitive encoded and are split by a ParDo after it (see `transforms/tagged.rs`).
pub struct StatefulParDoWithOutputs<F> {
    pardo: StatefulParDo<F>,
    tags: Vec<ErasedTag>,
}

impl<F: StatefulDoFn> StatefulParDoWithOutputs<F> {
    /// Declares one more tagged output.
    pub fn with_output<T: Element>(mut self, tag: &TupleTag<T>) -> Self {
        self.tags.push(tag.erase());
        self
    }
    /// Declares a side input.
    pub fn with_side_input<V>(mut self, view: &PCollectionView<V>) -> Self {
        self.pardo.side_inputs.push(view.id());
        self
    }
}

impl<F: StatefulDoFn> PTransform<PCollection<KV<F::Key, F::Value>>>
    for StatefulParDoWithOutputs<F>
{
    type Output = PCollectionTuple<F::Out>;
    fn expand(self, input: &PCollection<KV<F::Key, F::Value>>) -> Self::Output {
        let tags = self.tags.clone();
        let encoded = input.apply("Stateful", EncodedOutputs(self));
        super::tagged::split(&encoded, tags)
    }
}

/// The keyed primitive of a stateful ParDo with tagged outputs: every output encoded with its
/// port.
struct EncodedOutputs<F>(StatefulParDoWithOutputs<F>);

impl<F: StatefulDoFn> PTransform<PCollection<KV<F::Key, F::Value>>> for EncodedOutputs<F> {
    type Output = PCollection<EncodedOutput>;
    fn expand(self, input: &PCollection<KV<F::Key, F::Value>>) -> Self::Output {
        let StatefulParDoWithOutputs { pardo, tags } = self.0;
        add_stateful::<F, EncodedOutput>(input, pardo, tags)
    }
}

impl<F: StatefulDoFn> PTransform<PCollection<KV<F::Key, F::Value>>> for StatefulParDo<F> {
    type Output = PCollection<F::Out>;
    fn expand(self, input: &PCollection<KV<F::Key, F::Value>>) -> Self::Output {
        add_stateful::<F, F::Out>(input, self, Vec::new())
    }
}

/// Adds the keyed primitive of `pardo`, whose output holds `Out`: the DoFn's outputs, or with
/// `tags` all its outputs encoded with their ports.
fn add_stateful<F: StatefulDoFn, Out: Element>(
    input: &PCollection<KV<F::Key, F::Value>>,
    pardo: StatefulParDo<F>,
    tags: Vec<ErasedTag>,
) -> PCollection<Out> {
    let p = input.pipeline();
    let info = p.collection_info(input.id());
    let mut declarations = Declarations::new();
    let handles = pardo.dofn.declare(&mut declarations);
    for e in declarations.errors() {
        p.record_error(format!("stateful ParDo '{}': {e}", p.current_name()));
    }
    if info.windowing.window_fn.is_merging() {
        p.record_error(format!(
            "stateful ParDo '{}': its input has merging windows (sessions); state and \
             timers need non-merging windows, as on Beam's Dataflow and Flink runners",
            p.current_name()
        ));
    }
    let callbacks = Callbacks::of(&declarations).unwrap_or_else(|e| {
        p.record_error(format!("stateful ParDo '{}': {e}", p.current_name()));
        Callbacks {
            timers: Vec::new(),
            expiry: None,
        }
    });
    let kernel = StatefulDoFnKernel {
        prototype: pardo.dofn,
        handles: Arc::new(handles),
        declarations,
        callbacks,
        tags,
    };
    let spec = OutputSpec::of::<Out>(info.boundedness, info.windowing);
    let (_, outs) = p.add_primitive(
        NodeKind::StatefulParDo(Arc::new(kernel)),
        vec![input.id()],
        pardo.side_inputs,
        vec![spec],
    );
    p.handle(outs[0])
}

struct StatefulDoFnKernel<F: StatefulDoFn> {
    prototype: F,
    handles: Arc<F::State>,
    declarations: Declarations,
    callbacks: Callbacks<F>,
    /// Tagged outputs: when there are any, every output leaves encoded with its port.
    tags: Vec<ErasedTag>,
}

/// The callbacks a DoFn bound as it declared its timers and expiry, typed again.
struct Callbacks<F: StatefulDoFn> {
    /// By timer id.
    timers: Vec<Option<TimerCallback<F>>>,
    expiry: Option<ExpiryCallback<F>>,
}

impl<F: StatefulDoFn> Clone for Callbacks<F> {
    fn clone(&self) -> Self {
        Callbacks {
            timers: self.timers.clone(),
            expiry: self.expiry,
        }
    }
}

impl<F: StatefulDoFn> Callbacks<F> {
    /// The callbacks of `declarations`, or what is wrong with them: a callback is a method
    /// of the DoFn being declared, not of another.
    fn of(declarations: &Declarations) -> Result<Self, String> {
        let mut timers = Vec::with_capacity(declarations.timers().len());
        for (i, spec) in declarations.timers().iter().enumerate() {
            let callback = match declarations.timer_callback(TimerId(i as u32)) {
                Some(erased) => Some(erased.typed::<TimerCallback<F>>().ok_or_else(|| {
                    format!("timer '{}' is bound to a method of another DoFn", spec.name)
                })?),
                None => None,
            };
            timers.push(callback);
        }
        let expiry = match declarations.expiry_callback() {
            Some(erased) => Some(erased.typed::<ExpiryCallback<F>>().ok_or_else(|| {
                "the windows' expiry is bound to a method of another DoFn".to_string()
            })?),
            None => None,
        };
        Ok(Callbacks { timers, expiry })
    }
}

impl<F: StatefulDoFn> StatefulKernel for StatefulDoFnKernel<F> {
    fn to_records(&self, input: Bundle, out: &mut Vec<KeyedRecord>) -> Result<(), CoderError> {
        split_to_records::<SplitKv<F::Key, F::Value>>(input, out)
    }
    fn declarations(&self) -> &Declarations {
        &self.declarations
    }
    fn has_window_expiration(&self) -> bool {
        self.callbacks.expiry.is_some()
    }
    fn requires_time_sorted_input(&self) -> bool {
        self.prototype.requires_time_sorted_input()
    }
    fn create(&self, side_inputs: &SideInputs) -> Result<Box<dyn StatefulOperator>, BoxError> {
        let mut dofn = self.prototype.clone();
        dofn.setup()?;
        Ok(Box::new(StatefulDoFnOperator {
            dofn,
            handles: self.handles.clone(),
            declarations: self.declarations.clone(),
            callbacks: self.callbacks.clone(),
            out: Outputs::new(&self.tags, side_inputs.clone()),
            encoded: !self.tags.is_empty(),
            key: None,
        }))
    }
}

struct StatefulDoFnOperator<F: StatefulDoFn> {
    dofn: F,
    handles: Arc<F::State>,
    declarations: Declarations,
    callbacks: Callbacks<F>,
    out: Outputs<F::Out>,
    /// Whether outputs leave encoded with their ports (there are tagged outputs).
    encoded: bool,
    /// The last key decoded, with its encoding: consecutive calls for one key decode it once.
    key: Option<(EncodedKey, F::Key)>,
}

impl<F: StatefulDoFn> StatefulDoFnOperator<F> {
    /// Decodes `key` unless it is the key of the previous call.
    fn decode_key(&mut self, key: &EncodedKey) -> Result<(), BoxError> {
        if self.key.as_ref().is_none_or(|(k, _)| k != key) {
            self.key = Some((key.clone(), key.decode::<F::Key>()?));
        }
        Ok(())
    }

    /// Calls `f` with the DoFn, its handles and a context for `key`: the call's result, or
    /// the first mistake it made.
    fn call(
        &mut self,
        key: &EncodedKey,
        timestamp: Timestamp,
        scope: StateScope<'_>,
        f: impl FnOnce(&mut F, &F::State, &mut Ctx<'_, F>) -> DoFnResult,
    ) -> DoFnResult {
        self.decode_key(key)?;
        let (_, key) = self.key.as_ref().expect("decoded above");
        let mut ctx =
            StatefulContext::new(key, timestamp, &self.declarations, scope, &mut self.out);
        let result = f(&mut self.dofn, &self.handles, &mut ctx);
        ctx.finish(result)
    }
}

impl<F: StatefulDoFn> StatefulOperator for StatefulDoFnOperator<F> {
    fn process_run(
        &mut self,
        key: &EncodedKey,
        run: &[KeyedRecord],
        until: Timestamp,
        stop_at_timer: bool,
        scope: StateScope<'_>,
    ) -> Result<usize, BoxError> {
        self.decode_key(key)?;
        let (_, key) = self.key.as_ref().expect("decoded above");
        let StateScope {
            slot,
            timers,
            window,
            expiry,
            processing_time,
        } = scope;
        let mut done = 0;
        for record in run {
            if done > 0 && record.timestamp >= until {
                break;
            }
            let value: F::Value = decode(&record.payload)?;
            let asked = timers.len();
            let scope = StateScope {
                slot: &mut *slot,
                timers: &mut *timers,
                window,
                expiry,
                processing_time,
            };
            let mut ctx = StatefulContext::new(
                key,
                record.timestamp,
                &self.declarations,
                scope,
                &mut self.out,
            );
            let result = self.dofn.process(value, &self.handles, &mut ctx);
            ctx.finish(result)?;
            done += 1;
            if stop_at_timer && timers.len() > asked {
                break;
            }
        }
        Ok(done)
    }

    fn on_timer(
        &mut self,
        key: &EncodedKey,
        timer: &FiredTimer,
        scope: StateScope<'_>,
    ) -> Result<(), BoxError> {
        let callback = self
            .callbacks
            .timers
            .get(timer.timer.0 as usize)
            .copied()
            .flatten();
        self.call(
            key,
            timer.output_timestamp,
            scope,
            |dofn, handles, ctx| match callback {
                Some(callback) => callback(dofn, timer, handles, ctx),
                None => dofn.on_timer(timer, handles, ctx),
            },
        )
    }

    fn on_window_expiration(
        &mut self,
        key: &EncodedKey,
        scope: StateScope<'_>,
    ) -> Result<(), BoxError> {
        let Some(expire) = self.callbacks.expiry else {
            return Ok(());
        };
        let timestamp = scope.window.max_timestamp();
        self.call(key, timestamp, scope, |dofn, handles, ctx| {
            expire(dofn, handles, ctx)
        })
    }

    fn take_output(&mut self) -> Result<Bundle, BoxError> {
        if self.encoded {
            return Ok(super::tagged::take_encoded(&mut self.out)?);
        }
        Ok(Bundle::new(std::mem::take(&mut self.out.main)))
    }

    fn take_metrics(&mut self) -> MetricsContainer {
        std::mem::take(&mut self.out.metrics)
    }

    fn teardown(&mut self) {
        self.dofn.teardown();
    }
}

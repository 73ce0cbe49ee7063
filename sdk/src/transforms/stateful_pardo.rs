//! The stateful ParDo: applies a [`StatefulDoFn`] to a keyed PCollection.
//!
//! It is a primitive of its own ([`NodeKind::StatefulParDo`]): like a GroupByKey it makes the
//! runner bring every element of a key to one place, and its kernel then runs the DoFn per
//! element with the state of the element's key and window (see [`crate::stateful`]).

use super::group_by_key::{SplitKv, split_to_records};
use super::pardo::ParDo;
use crate::dofn::Outputs;
use crate::element::{CoderError, EncodedKey, decode};
use crate::error::BoxError;
use crate::graph::kernel::{KeyedRecord, SideInputs, StateScope, StatefulKernel, StatefulOperator};
use crate::graph::{Bundle, NodeKind};
use crate::kv::KV;
use crate::metrics::MetricsContainer;
use crate::pcollection::PCollection;
use crate::pipeline::{OutputSpec, PTransform};
use crate::side_input::PCollectionView;
use crate::state::{Declarations, FiredTimer};
use crate::stateful::{StatefulContext, StatefulDoFn};
use crate::time::Timestamp;
use std::sync::Arc;

/// A ParDo running a [`StatefulDoFn`]; see [`ParDo::stateful`].
pub struct StatefulParDo<F> {
    dofn: F,
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
}

impl<F: StatefulDoFn> PTransform<PCollection<KV<F::Key, F::Value>>> for StatefulParDo<F> {
    type Output = PCollection<F::Out>;
    fn expand(self, input: &PCollection<KV<F::Key, F::Value>>) -> Self::Output {
        let p = input.pipeline();
        let info = p.collection_info(input.id());
        let mut declarations = Declarations::new();
        let handles = self.dofn.declare(&mut declarations);
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
        let kernel = StatefulDoFnKernel {
            prototype: self.dofn,
            handles: Arc::new(handles),
            declarations,
        };
        let spec = OutputSpec::of::<F::Out>(info.boundedness, info.windowing);
        let (_, outs) = p.add_primitive(
            NodeKind::StatefulParDo(Arc::new(kernel)),
            vec![input.id()],
            self.side_inputs,
            vec![spec],
        );
        p.handle(outs[0])
    }
}

struct StatefulDoFnKernel<F: StatefulDoFn> {
    prototype: F,
    handles: Arc<F::State>,
    declarations: Declarations,
}

impl<F: StatefulDoFn> StatefulKernel for StatefulDoFnKernel<F> {
    fn to_records(&self, input: Bundle, out: &mut Vec<KeyedRecord>) -> Result<(), CoderError> {
        split_to_records::<SplitKv<F::Key, F::Value>>(input, out)
    }
    fn declarations(&self) -> &Declarations {
        &self.declarations
    }
    fn has_window_expiration(&self) -> bool {
        self.prototype.has_window_expiration()
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
            out: Outputs::new(&[], side_inputs.clone()),
            key: None,
        }))
    }
}

struct StatefulDoFnOperator<F: StatefulDoFn> {
    dofn: F,
    handles: Arc<F::State>,
    declarations: Declarations,
    out: Outputs<F::Out>,
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

    /// The decoded key, the DoFn, its handles and a context for one call.
    fn call<R>(
        &mut self,
        timestamp: Timestamp,
        scope: StateScope<'_>,
        f: impl FnOnce(&mut F, &F::Key, &F::State, &mut StatefulContext<'_, F::Out>) -> R,
    ) -> R {
        let (_, key) = self.key.as_ref().expect("the key is decoded before a call");
        let mut ctx = StatefulContext {
            timestamp,
            declarations: &self.declarations,
            scope,
            out: &mut self.out,
        };
        f(&mut self.dofn, key, &self.handles, &mut ctx)
    }
}

impl<F: StatefulDoFn> StatefulOperator for StatefulDoFnOperator<F> {
    fn process(
        &mut self,
        key: &EncodedKey,
        payload: &[u8],
        timestamp: Timestamp,
        scope: StateScope<'_>,
    ) -> Result<(), BoxError> {
        self.decode_key(key)?;
        let value: F::Value = decode(payload)?;
        self.call(timestamp, scope, |dofn, key, handles, ctx| {
            dofn.process(key, value, handles, ctx)
        })
    }

    fn on_timer(
        &mut self,
        key: &EncodedKey,
        timer: &FiredTimer,
        scope: StateScope<'_>,
    ) -> Result<(), BoxError> {
        self.decode_key(key)?;
        self.call(timer.output_timestamp, scope, |dofn, key, handles, ctx| {
            dofn.on_timer(key, timer, handles, ctx)
        })
    }

    fn on_window_expiration(
        &mut self,
        key: &EncodedKey,
        scope: StateScope<'_>,
    ) -> Result<(), BoxError> {
        self.decode_key(key)?;
        let timestamp = scope.window.max_timestamp();
        self.call(timestamp, scope, |dofn, key, handles, ctx| {
            dofn.on_window_expiration(key, handles, ctx)
        })
    }

    fn take_output(&mut self) -> Bundle {
        Bundle::new(std::mem::take(&mut self.out.main))
    }

    fn take_metrics(&mut self) -> MetricsContainer {
        std::mem::take(&mut self.out.metrics)
    }

    fn teardown(&mut self) {
        self.dofn.teardown();
    }
}

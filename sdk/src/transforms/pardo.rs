//! ParDo: applies a [`DoFn`] to every element.

use crate::dofn::{BundleContext, DoFn, ErasedTag, Outputs, ProcessContext, TupleTag};
use crate::element::Element;
use crate::error::BoxError;
use crate::graph::kernel::{Operator, OperatorFactory, SideInputs};
use crate::graph::{Bundle, CollectionId, NodeKind};
use crate::metrics::MetricsContainer;
use crate::pcollection::PCollection;
use crate::pipeline::{OutputSpec, PTransform, Pipeline, SliceUse};
use crate::side_input::PCollectionView;
use crate::windowed_value::WindowedValue;
use std::sync::Arc;

/// Applies a [`DoFn`] to every element of its input. See [`crate::dofn`] for an example.
pub struct ParDo<F> {
    dofn: F,
    tags: Vec<ErasedTag>,
    side_inputs: Vec<usize>,
}

impl<F: DoFn> ParDo<F> {
    /// A ParDo running `dofn`.
    pub fn of(dofn: F) -> Self {
        ParDo {
            dofn,
            tags: Vec::new(),
            side_inputs: Vec::new(),
        }
    }
    /// Declares a side input that the DoFn reads with `ctx.side_input(&view)`.
    pub fn with_side_input<V>(mut self, view: &PCollectionView<V>) -> Self {
        self.side_inputs.push(view.id());
        self
    }
    /// Declares a tagged output; the ParDo then yields a [`PCollectionTuple`].
    pub fn with_output<T: Element>(self, tag: &TupleTag<T>) -> ParDoWithOutputs<F> {
        ParDoWithOutputs(self).with_output(tag)
    }
}

/// A ParDo with tagged outputs; see [`ParDo::with_output`].
pub struct ParDoWithOutputs<F>(ParDo<F>);

impl<F: DoFn> ParDoWithOutputs<F> {
    /// Declares one more tagged output.
    pub fn with_output<T: Element>(mut self, tag: &TupleTag<T>) -> Self {
        self.0.tags.push(tag.erase());
        self
    }
    /// Declares a side input.
    pub fn with_side_input<V>(mut self, view: &PCollectionView<V>) -> Self {
        self.0.side_inputs.push(view.id());
        self
    }
}

/// The outputs of a ParDo with tagged outputs: the main output and one per tag.
pub struct PCollectionTuple<O> {
    main: PCollection<O>,
    tagged: Vec<(u64, CollectionId)>,
    pipeline: Pipeline,
}

impl<O> PCollectionTuple<O> {
    /// The outputs `outs` of a primitive of `pipeline`: the main one, then one per tag.
    pub(crate) fn new(pipeline: Pipeline, outs: &[CollectionId], tags: &[ErasedTag]) -> Self {
        PCollectionTuple {
            main: pipeline.handle(outs[0]),
            tagged: tags
                .iter()
                .zip(&outs[1..])
                .map(|(t, c)| (t.id, *c))
                .collect(),
            pipeline,
        }
    }
    /// The main output.
    pub fn main(&self) -> PCollection<O> {
        self.main.clone()
    }
    /// The output of `tag`.
    ///
    /// # Panics
    /// If `tag` was not declared with `with_output` on this ParDo (a mistake in the
    /// pipeline's code, found when it is built).
    pub fn get<T: Element>(&self, tag: &TupleTag<T>) -> PCollection<T> {
        let id = self
            .tagged
            .iter()
            .find(|(t, _)| *t == tag.id())
            .map(|(_, c)| *c)
            .unwrap_or_else(|| {
                panic!("output tag '{}' was not declared on this ParDo", tag.name())
            });
        self.pipeline.handle(id)
    }
}

struct DoFnFactory<F> {
    prototype: F,
    tags: Vec<ErasedTag>,
}

impl<F: DoFn> OperatorFactory for DoFnFactory<F> {
    fn create(&self, side_inputs: &SideInputs) -> Result<Box<dyn Operator>, BoxError> {
        let mut dofn = self.prototype.clone();
        dofn.setup()?;
        Ok(Box::new(DoFnOperator {
            dofn,
            out: Outputs::new(&self.tags, side_inputs.clone()),
        }))
    }
    fn output_ports(&self) -> usize {
        1 + self.tags.len()
    }
}

struct DoFnOperator<F: DoFn> {
    dofn: F,
    out: Outputs<F::Out>,
}

impl<F: DoFn> Operator for DoFnOperator<F> {
    fn start_bundle(&mut self) -> Result<Vec<Bundle>, BoxError> {
        self.dofn
            .start_bundle(&mut BundleContext { out: &mut self.out })?;
        Ok(self.out.take_bundles())
    }
    fn process(&mut self, input: Bundle) -> Result<Vec<Bundle>, BoxError> {
        let values: Vec<WindowedValue<F::In>> = downcast_input(input)?;
        for wv in values {
            let mut ctx = ProcessContext {
                timestamp: wv.timestamp,
                window: wv.window,
                pane: wv.pane,
                out: &mut self.out,
            };
            self.dofn.process(wv.value, &mut ctx)?;
        }
        Ok(self.out.take_bundles())
    }
    fn finish_bundle(&mut self) -> Result<Vec<Bundle>, BoxError> {
        self.dofn
            .finish_bundle(&mut BundleContext { out: &mut self.out })?;
        Ok(self.out.take_bundles())
    }
    fn teardown(&mut self) {
        self.dofn.teardown();
    }
    fn commit_on_checkpoints(&mut self, writer: u32) -> Result<(), BoxError> {
        self.dofn.commit_on_checkpoints(writer)
    }
    fn prepare_commit(
        &mut self,
        checkpoint: crate::commit::CheckpointId,
    ) -> Result<Option<Vec<u8>>, BoxError> {
        self.dofn.prepare_commit(checkpoint)
    }
    fn commit(&mut self, prepared: &[u8]) -> Result<(), BoxError> {
        self.dofn.commit(prepared)
    }
    fn recover(&mut self, prepared: &[Vec<u8>]) -> Result<(), BoxError> {
        self.dofn.recover(prepared)
    }
    fn committed_checkpoint(&mut self) -> Result<Option<crate::commit::CheckpointId>, BoxError> {
        self.dofn.committed_checkpoint()
    }
    fn commits_repeatable(&self) -> bool {
        self.dofn.commits_repeatable()
    }
    fn take_metrics(&mut self) -> MetricsContainer {
        std::mem::take(&mut self.out.metrics)
    }
    fn update_side_inputs(&mut self, side_inputs: &SideInputs) {
        self.out.side_inputs = side_inputs.clone();
    }
}

/// Takes the typed values out of an input bundle, or explains the mismatch.
pub(crate) fn downcast_input<T: Element>(input: Bundle) -> Result<Vec<WindowedValue<T>>, BoxError> {
    input.downcast::<T>().map_err(|b| {
        format!(
            "input bundle holds {}, but the transform reads {}",
            b.element_type(),
            std::any::type_name::<T>()
        )
        .into()
    })
}

/// The outputs of a transform of `input` with a main output of `O` and one per tag, all as
/// bounded and windowed as `input`.
pub(crate) fn output_specs<I, O: Element>(
    input: &PCollection<I>,
    tags: &[ErasedTag],
) -> Vec<OutputSpec> {
    let info = input.pipeline().collection_info(input.id());
    let main = OutputSpec::of::<O>(info.boundedness, info.windowing.clone());
    let tagged = tags.iter().map(|tag| OutputSpec {
        element_type: tag.element_type,
        boundedness: info.boundedness,
        windowing: info.windowing.clone(),
    });
    std::iter::once(main).chain(tagged).collect()
}

fn add_pardo<F: DoFn>(
    input: &PCollection<F::In>,
    pardo: ParDo<F>,
) -> (Vec<CollectionId>, Vec<ErasedTag>) {
    let specs = output_specs::<F::In, F::Out>(input, &pardo.tags);
    let tags = pardo.tags.clone();
    let factory = DoFnFactory {
        prototype: pardo.dofn,
        tags: pardo.tags,
    };
    let (_, outs) = input.pipeline().add_primitive(
        NodeKind::ParDo(Arc::new(factory)),
        vec![input.id()],
        pardo.side_inputs,
        specs,
    );
    (outs, tags)
}

impl<F: DoFn> PTransform<PCollection<F::In>> for ParDo<F> {
    type Output = PCollection<F::Out>;
    fn expand(self, input: &PCollection<F::In>) -> Self::Output {
        let (outs, _) = add_pardo(input, self);
        input.pipeline().handle(outs[0])
    }
}

impl<F: DoFn> PTransform<PCollection<F::In>> for ParDoWithOutputs<F> {
    type Output = PCollectionTuple<F::Out>;
    fn expand(self, input: &PCollection<F::In>) -> Self::Output {
        let (outs, tags) = add_pardo(input, self.0);
        PCollectionTuple::new(input.pipeline().clone(), &outs, &tags)
    }
}

/// A bundle-at-a-time function: the fast path for closures (Map, FlatMap, Filter, ...).
type BundleFn<I, O> =
    dyn Fn(Vec<WindowedValue<I>>) -> Result<Vec<WindowedValue<O>>, BoxError> + Send + Sync;

struct BundleFnFactory<I, O> {
    f: Arc<BundleFn<I, O>>,
    max_outputs_per_input: u64,
}

struct BundleFnOperator<I, O> {
    f: Arc<BundleFn<I, O>>,
}

impl<I: Element, O: Element> OperatorFactory for BundleFnFactory<I, O> {
    fn create(&self, _side_inputs: &SideInputs) -> Result<Box<dyn Operator>, BoxError> {
        Ok(Box::new(BundleFnOperator { f: self.f.clone() }))
    }
    fn output_ports(&self) -> usize {
        1
    }
    fn max_outputs_per_input(&self) -> u64 {
        self.max_outputs_per_input
    }
}

impl<I: Element, O: Element> Operator for BundleFnOperator<I, O> {
    fn start_bundle(&mut self) -> Result<Vec<Bundle>, BoxError> {
        Ok(vec![Bundle::empty::<O>()])
    }
    fn process(&mut self, input: Bundle) -> Result<Vec<Bundle>, BoxError> {
        Ok(vec![Bundle::new((self.f)(downcast_input(input)?)?)])
    }
    fn finish_bundle(&mut self) -> Result<Vec<Bundle>, BoxError> {
        Ok(vec![Bundle::empty::<O>()])
    }
    fn teardown(&mut self) {}
    fn take_metrics(&mut self) -> MetricsContainer {
        MetricsContainer::default()
    }
}

/// Adds an element-wise primitive that runs `f` on whole bundles. `windowing` replaces the
/// output's windowing strategy (for WindowInto); `None` keeps the input's.
pub(crate) fn apply_bundle_fn<I: Element, O: Element>(
    input: &PCollection<I>,
    windowing: Option<crate::windowing::WindowingStrategy>,
    f: impl Fn(Vec<WindowedValue<I>>) -> Result<Vec<WindowedValue<O>>, BoxError> + Send + Sync + 'static,
) -> PCollection<O> {
    apply_expanding_bundle_fn(input, windowing, 1, f)
}

/// [`apply_bundle_fn`] for a function that yields up to `max_outputs_per_input` outputs per
/// input element (see [`OperatorFactory::max_outputs_per_input`]).
pub(crate) fn apply_expanding_bundle_fn<I: Element, O: Element>(
    input: &PCollection<I>,
    windowing: Option<crate::windowing::WindowingStrategy>,
    max_outputs_per_input: u64,
    f: impl Fn(Vec<WindowedValue<I>>) -> Result<Vec<WindowedValue<O>>, BoxError> + Send + Sync + 'static,
) -> PCollection<O> {
    add_bundle_fn(
        input,
        windowing,
        max_outputs_per_input,
        SliceUse::Explode,
        f,
    )
}

/// [`apply_bundle_fn`] for a function that cannot see windows and gives each output its
/// input's window (Map, FlatMap, Filter, Keys...): on an input whose elements sit in slices
/// (see [`Sliced`](crate::graph::Sliced)) it runs on the slices, once per element, and its
/// output stays sliced.
pub(crate) fn apply_window_agnostic_fn<I: Element, O: Element>(
    input: &PCollection<I>,
    f: impl Fn(Vec<WindowedValue<I>>) -> Result<Vec<WindowedValue<O>>, BoxError> + Send + Sync + 'static,
) -> PCollection<O> {
    let slices = keep_slices::<O>(&input.pipeline().collection_info(input.id()));
    add_bundle_fn(input, None, 1, slices, f)
}

/// How a window-agnostic transform with output `O` takes `input`: keeping its slices, if it
/// has any.
pub(crate) fn keep_slices<O: Element>(input: &crate::graph::CollectionInfo) -> SliceUse {
    match &input.sliced {
        Some(sliced) => SliceUse::Keep {
            explode: super::explode_slices::exploder::<O>(sliced.slicing),
        },
        None => SliceUse::Explode,
    }
}

/// A ParDo that runs `f` on whole bundles, yielding up to `max_outputs_per_input` outputs per
/// input (see [`OperatorFactory::max_outputs_per_input`]).
pub(crate) fn bundle_fn_factory<I: Element, O: Element>(
    max_outputs_per_input: u64,
    f: impl Fn(Vec<WindowedValue<I>>) -> Result<Vec<WindowedValue<O>>, BoxError> + Send + Sync + 'static,
) -> Arc<dyn OperatorFactory> {
    Arc::new(BundleFnFactory {
        f: Arc::new(f),
        max_outputs_per_input,
    })
}

fn add_bundle_fn<I: Element, O: Element>(
    input: &PCollection<I>,
    windowing: Option<crate::windowing::WindowingStrategy>,
    max_outputs_per_input: u64,
    slices: SliceUse,
    f: impl Fn(Vec<WindowedValue<I>>) -> Result<Vec<WindowedValue<O>>, BoxError> + Send + Sync + 'static,
) -> PCollection<O> {
    let info = input.pipeline().collection_info(input.id());
    let spec = OutputSpec::of::<O>(info.boundedness, windowing.unwrap_or(info.windowing));
    let (_, outs) = input.pipeline().add_primitive_with_slices(
        NodeKind::ParDo(bundle_fn_factory(max_outputs_per_input, f)),
        vec![input.id()],
        vec![],
        vec![spec],
        slices,
    );
    input.pipeline().handle(outs[0])
}

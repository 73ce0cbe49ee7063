//! [`Pipeline`]: the graph under construction, and the [`PTransform`] trait.
//!
//! A pipeline is built by *applying* transforms under names. Applying a transform runs its
//! [`expand`](PTransform::expand), which applies further transforms (a composite) or adds a
//! primitive node to the graph. Names nest: a transform applied as `"Split"` inside a composite
//! applied as `"WordCount"` is called `"WordCount/Split"`. Full names must be unique; a
//! duplicate is recorded and reported by [`Pipeline::graph`] (and so by every runner) as a
//! construction error.
//!
//! ```
//! use sluice_sdk::prelude::*;
//! let p = Pipeline::new();
//! let words = p.apply("Create", Create::of(vec!["a".to_string(), "b".to_string()]));
//! let upper = words.map("Upper", |w: String| w.to_uppercase());
//! assert_eq!(p.graph().unwrap().nodes.len(), 2);
//! # let _ = upper;
//! ```

use crate::error::PipelineError;
use crate::graph::kernel::OperatorFactory;
use crate::graph::{
    Boundedness, CollectionId, CollectionInfo, Graph, Node, NodeId, NodeKind, Sliced,
};
use crate::pcollection::PCollection;
use crate::window::Slicing;
use crate::windowing::WindowingStrategy;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// A transform from an input (a PCollection, several, or [`PBegin`]) to an output.
///
/// Implement it to write a composite transform: `expand` applies other transforms to the
/// input, and their names nest under the name the composite is applied with.
///
/// ```
/// use sluice_sdk::prelude::*;
/// struct CountWords;
/// impl PTransform<PCollection<String>> for CountWords {
///     type Output = PCollection<KV<String, u64>>;
///     fn expand(self, lines: &PCollection<String>) -> Self::Output {
///         lines
///             .flat_map("Split", |l: String| l.split(' ').map(str::to_string).collect::<Vec<_>>())
///             .apply("Count", Count::per_element())
///     }
/// }
/// let p = Pipeline::new();
/// let counts = p.apply("Lines", Create::of(vec!["a b a".to_string()])).apply("CountWords", CountWords);
/// let graph = p.graph().unwrap();
/// assert!(graph.nodes.iter().any(|n| n.name == "CountWords/Split"));
/// # let _ = counts;
/// ```
pub trait PTransform<Input> {
    /// What applying the transform produces.
    type Output;
    /// Applies the transform's parts to `input`.
    fn expand(self, input: &Input) -> Self::Output;
}

/// The input of a root transform (Create, Read, Impulse): the beginning of a pipeline.
#[derive(Clone)]
pub struct PBegin {
    pipeline: Pipeline,
}

impl PBegin {
    /// The pipeline to add roots to.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
}

#[derive(Default)]
struct Builder {
    graph: Graph,
    names: HashSet<String>,
    scope: Vec<String>,
    primitive_in_scope: HashSet<String>,
    errors: Vec<String>,
    assertions: usize,
    auto_names: usize,
    /// For each sliced PCollection already exploded: the exploded one.
    exploded: HashMap<CollectionId, CollectionId>,
}

/// How a primitive takes inputs whose elements sit in slices ([`Sliced`]).
#[derive(Clone)]
pub enum SliceUse {
    /// It observes windows: sliced inputs are exploded into their windows first. What
    /// [`Pipeline::add_primitive`] does.
    Explode,
    /// It cannot see windows and gives each output the window of its input (Map, Flatten,
    /// Reshuffle...): when every input is sliced alike, its one output is sliced alike, and
    /// `explode` (a ParDo over the output's element type) explodes it where needed; otherwise
    /// as [`Explode`](Self::Explode).
    Keep {
        /// Puts an output element in every window of its slice.
        explode: Arc<dyn OperatorFactory>,
    },
    /// It puts its one output in slices (WindowInto with a sliding window function).
    Assign(Sliced),
    /// It takes slices itself (a Combine): inputs stay as they are; outputs are in windows.
    Consume,
}

/// A pipeline under construction: a cheap, clonable handle to its graph.
#[derive(Clone, Default)]
pub struct Pipeline {
    inner: Arc<Mutex<Builder>>,
}

/// How a new output PCollection of a primitive is described.
#[derive(Clone, Debug)]
pub struct OutputSpec {
    /// Rust name of the element type.
    pub element_type: &'static str,
    /// Bounded or unbounded.
    pub boundedness: Boundedness,
    /// Its windowing strategy.
    pub windowing: WindowingStrategy,
}

impl OutputSpec {
    /// An output of element type `T`.
    pub fn of<T>(boundedness: Boundedness, windowing: WindowingStrategy) -> Self {
        OutputSpec {
            element_type: std::any::type_name::<T>(),
            boundedness,
            windowing,
        }
    }
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Builder> {
        // A panic while the lock is held leaves the graph as it was before the panicking call,
        // which is still consistent, so a poisoned lock is safe to reuse.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies a root transform (Create, Impulse, Read) under `name`.
    pub fn apply<T: PTransform<PBegin>>(&self, name: &str, transform: T) -> T::Output {
        let begin = PBegin {
            pipeline: self.clone(),
        };
        self.apply_named(name, || transform.expand(&begin))
    }

    /// Runs `expand` with `name` pushed on the name scope. Used by every `apply`.
    pub fn apply_named<R>(&self, name: &str, expand: impl FnOnce() -> R) -> R {
        {
            let mut b = self.lock();
            let full = full_name(&b.scope, name);
            if name.is_empty() || name.contains('/') {
                b.errors.push(format!(
                    "transform name '{name}' (in '{full}') must be non-empty and contain no '/'"
                ));
            }
            if !b.names.insert(full.clone()) {
                b.errors.push(format!(
                    "duplicate transform name '{full}': every applied transform needs a unique name"
                ));
            }
            b.scope.push(name.to_string());
        }
        let out = expand();
        self.lock().scope.pop();
        out
    }

    /// A name for an internal transform that is unique in this pipeline (`"{prefix}${n}"`).
    pub fn unique_name(&self, prefix: &str) -> String {
        let mut b = self.lock();
        b.auto_names += 1;
        format!("{prefix}${}", b.auto_names)
    }

    /// The full name of the transform being expanded.
    pub fn current_name(&self) -> String {
        self.lock().scope.join("/")
    }

    /// Adds a primitive node under the current full name; returns its id and output ids.
    /// Inputs whose elements sit in slices are exploded into their windows first (see
    /// [`add_primitive_with_slices`](Self::add_primitive_with_slices)).
    pub fn add_primitive(
        &self,
        kind: NodeKind,
        inputs: Vec<CollectionId>,
        side_inputs: Vec<NodeId>,
        outputs: Vec<OutputSpec>,
    ) -> (NodeId, Vec<CollectionId>) {
        self.add_primitive_with_slices(kind, inputs, side_inputs, outputs, SliceUse::Explode)
    }

    /// [`add_primitive`](Self::add_primitive) for a primitive that takes sliced inputs as
    /// `slices` says.
    pub fn add_primitive_with_slices(
        &self,
        kind: NodeKind,
        mut inputs: Vec<CollectionId>,
        side_inputs: Vec<NodeId>,
        outputs: Vec<OutputSpec>,
        slices: SliceUse,
    ) -> (NodeId, Vec<CollectionId>) {
        let mut b = self.lock();
        let name = b.scope.join("/");
        if !b.primitive_in_scope.insert(name.clone()) {
            b.errors.push(format!(
                "transform '{name}' adds more than one primitive; apply each under its own name"
            ));
        }
        let slicings: Vec<Option<Slicing>> = inputs
            .iter()
            .map(|&c| b.graph.collections[c].sliced.as_ref().map(|s| s.slicing))
            .collect();
        let kept = slicings
            .first()
            .copied()
            .flatten()
            .filter(|first| slicings.iter().all(|s| *s == Some(*first)) && outputs.len() == 1);
        // Whether the inputs stay sliced, and how the outputs are.
        let (keep_inputs, output_sliced) = match slices {
            SliceUse::Explode => (false, None),
            SliceUse::Consume => (true, None),
            SliceUse::Assign(sliced) => (false, Some(sliced)),
            SliceUse::Keep { explode } => match kept {
                Some(slicing) => (true, Some(Sliced { slicing, explode })),
                None => (false, None),
            },
        };
        if !keep_inputs {
            for input in &mut inputs {
                *input = exploded(&mut b, *input);
            }
        }
        add_node(
            &mut b,
            name,
            kind,
            inputs,
            side_inputs,
            outputs,
            output_sliced,
        )
    }

    /// Records a construction error, reported when the pipeline is run.
    pub fn record_error(&self, message: String) {
        self.lock().errors.push(message);
    }

    /// Information about a PCollection.
    pub fn collection_info(&self, id: CollectionId) -> CollectionInfo {
        self.lock().graph.collections[id].clone()
    }

    /// Counts one more `assert_that` in this pipeline.
    pub(crate) fn register_assertion(&self) {
        self.lock().assertions += 1;
    }

    /// How many `assert_that` checks this pipeline holds; each reports success through the
    /// counter [`crate::testing::SUCCESS_COUNTER`] when it passes.
    pub fn assertion_count(&self) -> usize {
        self.lock().assertions
    }

    /// The finished graph, or the first construction error.
    pub fn graph(&self) -> Result<Graph, PipelineError> {
        let b = self.lock();
        if let Some(e) = b.errors.first() {
            return Err(PipelineError::Construction(e.clone()));
        }
        Ok(b.graph.clone())
    }

    /// A typed handle on an existing PCollection of this pipeline.
    pub(crate) fn handle<T>(&self, id: CollectionId) -> PCollection<T> {
        PCollection::from_parts(self.clone(), id)
    }
}

/// Adds a node named `name`; its outputs are `sliced` when given.
fn add_node(
    b: &mut Builder,
    name: String,
    kind: NodeKind,
    inputs: Vec<CollectionId>,
    side_inputs: Vec<NodeId>,
    outputs: Vec<OutputSpec>,
    sliced: Option<Sliced>,
) -> (NodeId, Vec<CollectionId>) {
    let id = b.graph.nodes.len();
    let mut output_ids = Vec::with_capacity(outputs.len());
    for spec in outputs {
        let cid = b.graph.collections.len();
        b.graph.collections.push(CollectionInfo {
            id: cid,
            producer: id,
            element_type: spec.element_type,
            boundedness: spec.boundedness,
            windowing: spec.windowing,
            sliced: sliced.clone(),
        });
        output_ids.push(cid);
    }
    b.graph.nodes.push(Node {
        id,
        name,
        inputs,
        side_inputs,
        outputs: output_ids.clone(),
        kind,
    });
    (id, output_ids)
}

/// `collection` in windows: itself when it is not sliced, else the output of the ParDo that
/// explodes it (added on first use, named after its producer).
fn exploded(b: &mut Builder, collection: CollectionId) -> CollectionId {
    let info = b.graph.collections[collection].clone();
    let Some(sliced) = info.sliced else {
        return collection;
    };
    if let Some(&done) = b.exploded.get(&collection) {
        return done;
    }
    let producer = b.graph.nodes[info.producer].name.clone();
    let mut name = format!("{producer}/ExplodeSlices");
    let mut n = 1;
    while !b.names.insert(name.clone()) {
        n += 1;
        name = format!("{producer}/ExplodeSlices{n}");
    }
    let spec = OutputSpec {
        element_type: info.element_type,
        boundedness: info.boundedness,
        windowing: info.windowing,
    };
    let (_, outs) = add_node(
        b,
        name,
        NodeKind::ParDo(sliced.explode),
        vec![collection],
        vec![],
        vec![spec],
        None,
    );
    b.exploded.insert(collection, outs[0]);
    outs[0]
}

fn full_name(scope: &[String], name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{}/{}", scope.join("/"), name)
    }
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;

    #[test]
    fn duplicate_full_name_is_a_construction_error() {
        let p = Pipeline::new();
        let a = p.apply("Create", Create::of(vec![1u32]));
        let _ = a.map("Twice", |x: u32| x * 2);
        let _ = a.map("Twice", |x: u32| x * 3);
        let err = p.graph().err().expect("duplicate must fail");
        assert!(
            err.to_string().contains("duplicate transform name 'Twice'"),
            "{err}"
        );
    }

    #[test]
    fn the_same_name_in_different_scopes_is_fine() {
        let p = Pipeline::new();
        let a = p.apply("Create", Create::of(vec![1u32]));
        let _ = a.apply("Count1", Count::per_element());
        let _ = a.apply("Count2", Count::per_element());
        assert!(p.graph().is_ok());
    }
}

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
use crate::graph::{Boundedness, CollectionId, CollectionInfo, Graph, Node, NodeId, NodeKind};
use crate::pcollection::PCollection;
use crate::windowing::WindowingStrategy;
use std::collections::HashSet;
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
    pub fn add_primitive(
        &self,
        kind: NodeKind,
        inputs: Vec<CollectionId>,
        side_inputs: Vec<NodeId>,
        outputs: Vec<OutputSpec>,
    ) -> (NodeId, Vec<CollectionId>) {
        let mut b = self.lock();
        let name = b.scope.join("/");
        if !b.primitive_in_scope.insert(name.clone()) {
            b.errors.push(format!(
                "transform '{name}' adds more than one primitive; apply each under its own name"
            ));
        }
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

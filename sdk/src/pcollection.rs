//! [`PCollection`]: a typed handle on a collection of elements in a pipeline.

use crate::element::Element;
use crate::graph::{Boundedness, CollectionId};
use crate::pipeline::{PTransform, Pipeline};
use crate::windowing::WindowingStrategy;
use std::marker::PhantomData;

/// A (possibly unbounded) collection of elements of type `T`, each with a timestamp and a
/// window. It is a handle: cloning it is cheap, and it holds no data. Its boundedness and
/// windowing strategy are known when the pipeline is built.
pub struct PCollection<T> {
    pipeline: Pipeline,
    id: CollectionId,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for PCollection<T> {
    fn clone(&self) -> Self {
        PCollection {
            pipeline: self.pipeline.clone(),
            id: self.id,
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for PCollection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PCollection<{}>#{}", std::any::type_name::<T>(), self.id)
    }
}

impl<T> PCollection<T> {
    pub(crate) fn from_parts(pipeline: Pipeline, id: CollectionId) -> Self {
        PCollection {
            pipeline,
            id,
            _t: PhantomData,
        }
    }
    /// The pipeline this collection belongs to.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
    /// Its id in the pipeline graph.
    pub fn id(&self) -> CollectionId {
        self.id
    }
    /// Whether it is bounded.
    pub fn boundedness(&self) -> Boundedness {
        self.pipeline.collection_info(self.id).boundedness
    }
    /// How it is windowed.
    pub fn windowing(&self) -> WindowingStrategy {
        self.pipeline.collection_info(self.id).windowing
    }
}

impl<T: Element> PCollection<T> {
    /// Applies a transform to this collection under `name`.
    pub fn apply<X: PTransform<PCollection<T>>>(&self, name: &str, transform: X) -> X::Output {
        self.pipeline.apply_named(name, || transform.expand(self))
    }
}

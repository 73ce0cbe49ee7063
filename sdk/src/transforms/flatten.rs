//! Flatten: merges PCollections of one type into one.

use super::pardo::keep_slices;
use crate::element::Element;
use crate::graph::{Boundedness, NodeKind};
use crate::pcollection::PCollection;
use crate::pipeline::{OutputSpec, PTransform, Pipeline};
use crate::windowing::WindowingStrategy;

/// Several PCollections of the same element type, for [`Flatten`].
pub struct PCollectionList<T> {
    pipeline: Pipeline,
    collections: Vec<PCollection<T>>,
}

impl<T: Element> PCollectionList<T> {
    /// A list of PCollections (at least one; see [`PCollectionList::empty`]).
    ///
    /// # Panics
    /// If `collections` is empty: the list then cannot know its pipeline.
    pub fn of(collections: Vec<PCollection<T>>) -> Self {
        let pipeline = collections
            .first()
            .expect(
                "PCollectionList::of needs at least one PCollection; use PCollectionList::empty",
            )
            .pipeline()
            .clone();
        PCollectionList {
            pipeline,
            collections,
        }
    }
    /// An empty list in `pipeline` (flattening it gives an empty PCollection).
    pub fn empty(pipeline: &Pipeline) -> Self {
        PCollectionList {
            pipeline: pipeline.clone(),
            collections: Vec::new(),
        }
    }
    /// Adds one more PCollection.
    pub fn and(mut self, collection: PCollection<T>) -> Self {
        self.collections.push(collection);
        self
    }
    /// The PCollections.
    pub fn collections(&self) -> &[PCollection<T>] {
        &self.collections
    }
    /// Applies a transform to the list under `name`.
    pub fn apply<X: PTransform<PCollectionList<T>>>(&self, name: &str, transform: X) -> X::Output {
        self.pipeline.apply_named(name, || transform.expand(self))
    }
}

/// Merges a [`PCollectionList`] into one PCollection holding every element of every input,
/// each with its timestamp and window. The inputs must be windowed alike.
pub struct Flatten;

impl<T: Element> PTransform<PCollectionList<T>> for Flatten {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollectionList<T>) -> PCollection<T> {
        let p = &input.pipeline;
        let infos: Vec<_> = input
            .collections
            .iter()
            .map(|c| p.collection_info(c.id()))
            .collect();
        let windowing = infos
            .first()
            .map(|i| i.windowing.clone())
            .unwrap_or_else(WindowingStrategy::global);
        if infos
            .iter()
            .any(|i| !i.windowing.compatible_with(&windowing))
        {
            p.record_error(format!(
                "'{}': Flatten inputs must have the same window function",
                p.current_name()
            ));
        }
        let boundedness = if infos
            .iter()
            .any(|i| i.boundedness == Boundedness::Unbounded)
        {
            Boundedness::Unbounded
        } else {
            Boundedness::Bounded
        };
        let inputs = input.collections.iter().map(|c| c.id()).collect();
        // Kept in slices when every input is sliced alike (the first one's slicing).
        let slices = match infos.first() {
            Some(first) => keep_slices::<T>(first),
            None => crate::pipeline::SliceUse::Explode,
        };
        let (_, outs) = p.add_primitive_with_slices(
            NodeKind::Flatten,
            inputs,
            vec![],
            vec![OutputSpec::of::<T>(boundedness, windowing)],
            slices,
        );
        p.handle(outs[0])
    }
}

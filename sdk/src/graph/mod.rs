//! The logical plan: what a pipeline computes, as a graph of applied primitive transforms.
//!
//! Composite transforms exist only while the pipeline is built (they nest names); the graph
//! holds the primitives they expand to. Each [`Node`] consumes and produces PCollections
//! (identified by [`CollectionId`]), and carries a [`NodeKind`] with the typed [`kernel`] the
//! runner calls. Nodes are stored in the order they were applied, which is a topological
//! order: a node's inputs always come from earlier nodes.
//!
//! Runners read this graph and decide *how* to execute it (fusion, shuffles, threads); see
//! the `sluice-runners` crate.

mod bundle;
pub mod kernel;

pub use bundle::Bundle;

use crate::window::Slicing;
use crate::windowing::WindowingStrategy;
use kernel::{
    GroupKernel, OperatorFactory, SourceKernel, StatefulKernel, TestStreamKernel,
    UnboundedSourceKernel, ViewKernel,
};
use std::sync::Arc;

/// Identifies a node of the graph (its position in application order).
pub type NodeId = usize;

/// Identifies a PCollection of the graph.
pub type CollectionId = usize;

/// Whether a PCollection has a known end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundedness {
    /// Finite: read from files, in-memory data.
    Bounded,
    /// Possibly infinite: read from a stream.
    Unbounded,
}

/// What the runner must do for a node.
#[derive(Clone)]
pub enum NodeKind {
    /// Reads a source; no inputs.
    Read(Arc<dyn SourceKernel>),
    /// Reads an unbounded source; no inputs.
    ReadUnbounded(Arc<dyn UnboundedSourceKernel>),
    /// Replays a scripted stream of elements, watermark and processing-time advances (tests).
    TestStream(Arc<dyn TestStreamKernel>),
    /// An element-wise transform; may read side inputs.
    ParDo(Arc<dyn OperatorFactory>),
    /// Groups per key and window (GroupByKey, or Combine.perKey when the kernel can pre-combine).
    GroupByKey(Arc<dyn GroupKernel>),
    /// A ParDo with per-key state and timers: shuffles by key like a grouping, then runs the
    /// DoFn per key and window.
    StatefulParDo(Arc<dyn StatefulKernel>),
    /// Concatenates its inputs.
    Flatten,
    /// Redistributes its input; the elements, timestamps and windows are unchanged.
    Reshuffle,
    /// Materializes its input as a side-input view; produces no PCollection.
    View(Arc<dyn ViewKernel>),
}

impl NodeKind {
    /// A short label for plans and logs.
    pub fn label(&self) -> &'static str {
        match self {
            NodeKind::Read(_) => "Read",
            NodeKind::TestStream(_) => "TestStream",
            NodeKind::ReadUnbounded(_) => "ReadUnbounded",
            NodeKind::ParDo(_) => "ParDo",
            NodeKind::GroupByKey(_) => "GroupByKey",
            NodeKind::StatefulParDo(_) => "StatefulParDo",
            NodeKind::Flatten => "Flatten",
            NodeKind::Reshuffle => "Reshuffle",
            NodeKind::View(_) => "View",
        }
    }
}

/// One applied primitive transform.
#[derive(Clone)]
pub struct Node {
    /// Position in the graph.
    pub id: NodeId,
    /// Full hierarchical name, unique in the pipeline (`"WordCount/Split"`).
    pub name: String,
    /// Main inputs.
    pub inputs: Vec<CollectionId>,
    /// Side inputs (ids of View nodes).
    pub side_inputs: Vec<NodeId>,
    /// Outputs, in port order.
    pub outputs: Vec<CollectionId>,
    /// What it does.
    pub kind: NodeKind,
}

/// How the elements of a PCollection sit in **slices** rather than in their windows (see
/// [`window::slices`](crate::window::slices)): a sliding window function puts an element in
/// the one slice its timestamp falls in, instead of a copy in each of its `size / period`
/// windows, and the copies are made only where a transform observes windows.
///
/// Transforms that cannot see windows (Map, FlatMap, Filter, Keys, Values, Flatten,
/// Reshuffle) keep their input's slices; a Combine takes them as they are, accumulating each
/// element once into its slice; any other consumer gets the elements *exploded* first: a
/// ParDo the pipeline inserts (named `…/ExplodeSlices` after the producer) puts each element
/// in every window of its slice, so that it sees exactly what per-window assignment gives.
#[derive(Clone)]
pub struct Sliced {
    /// How the slices cut time.
    pub slicing: Slicing,
    /// The ParDo that puts each element in every window of its slice.
    pub explode: Arc<dyn OperatorFactory>,
}

impl std::fmt::Debug for Sliced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sliced")
            .field("slicing", &self.slicing)
            .finish_non_exhaustive()
    }
}

/// What is known about a PCollection.
#[derive(Clone, Debug)]
pub struct CollectionInfo {
    /// Its id.
    pub id: CollectionId,
    /// The node that produces it.
    pub producer: NodeId,
    /// Rust name of the element type.
    pub element_type: &'static str,
    /// Bounded or unbounded.
    pub boundedness: Boundedness,
    /// How it is windowed.
    pub windowing: WindowingStrategy,
    /// Whether its elements sit in slices of its (sliding) windows rather than in the windows.
    pub sliced: Option<Sliced>,
}

/// A pipeline's graph of primitive transforms.
#[derive(Clone, Default)]
pub struct Graph {
    /// Nodes in application (topological) order.
    pub nodes: Vec<Node>,
    /// Every PCollection, by id.
    pub collections: Vec<CollectionInfo>,
}

impl Graph {
    /// The nodes that consume `collection` as a main input, in order.
    pub fn consumers(&self, collection: CollectionId) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|n| n.inputs.contains(&collection))
            .map(|n| n.id)
            .collect()
    }
    /// Whether the graph reads unbounded sources or test streams: runners run it in streaming
    /// mode (watermarks, triggers as data arrives) rather than as one batch.
    pub fn is_streaming(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n.kind, NodeKind::ReadUnbounded(_) | NodeKind::TestStream(_)))
    }
    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }
    /// The PCollection with this id.
    pub fn collection(&self, id: CollectionId) -> &CollectionInfo {
        &self.collections[id]
    }
}

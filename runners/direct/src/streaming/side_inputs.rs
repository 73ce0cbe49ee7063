//! Side inputs in streaming on the direct runner: views that change as their input arrives
//! ([`UpdatingView`]), and main-input elements that wait until the views they read are ready.
//!
//! After each change a view is handed to the operators that read it. A main-input element
//! waits in its stage, in arrival order, until every view it reads is ready for its window,
//! and holds the stage's output watermark at its timestamp meanwhile.

use super::Streaming;
use sluice_runner_core::invoke::invoke;
use sluice_runner_core::{StageRoot, UpdatingView};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::{SideInputs, ViewId};
use sluice_sdk::graph::{Bundle, CollectionId, Graph, NodeId, NodeKind};
use sluice_sdk::time::Timestamp;
use sluice_sdk::window::Window;
use std::collections::HashMap;

/// One view, as a streaming run keeps it.
struct StreamingView {
    /// The PCollection the view reads.
    input: CollectionId,
    contents: UpdatingView,
}

/// The views of a streaming run and what waits for them.
#[derive(Default)]
pub(super) struct StreamingViews {
    views: HashMap<ViewId, StreamingView>,
    /// The current contents of every view, as operators read them.
    data: SideInputs,
    /// Per stage whose operators read views: the elements waiting, in arrival order.
    waiting: HashMap<usize, Vec<Bundle>>,
}

impl StreamingViews {
    /// The views of `graph`, empty.
    pub(super) fn new(graph: &Graph) -> Result<Self, PipelineError> {
        let mut views = StreamingViews::default();
        for node in &graph.nodes {
            let NodeKind::View(kernel) = &node.kind else {
                continue;
            };
            views.views.insert(
                node.id,
                StreamingView {
                    input: node.inputs[0],
                    contents: UpdatingView::of(graph, node.id),
                },
            );
            let empty = invoke(&node.name, || kernel.materialize(Vec::new()))?;
            views.data.0.insert(node.id, empty);
        }
        Ok(views)
    }

    /// How many bundles of main-input elements wait for views.
    pub(super) fn waiting_bundles(&self) -> usize {
        self.waiting.values().map(Vec::len).sum()
    }

    /// Every view's contents, encoded: `(view, bytes)` for a checkpoint.
    pub(super) fn snapshot(&self) -> Result<Vec<(ViewId, Vec<u8>)>, PipelineError> {
        let mut ids: Vec<ViewId> = self.views.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
            .map(|id| Ok((id, self.views[&id].contents.snapshot()?)))
            .collect()
    }

    /// Puts back a view's contents from a checkpoint.
    pub(super) fn restore(&mut self, view: ViewId, bytes: &[u8]) -> Result<(), PipelineError> {
        let Some(v) = self.views.get_mut(&view) else {
            return Err(PipelineError::Checkpoint(format!(
                "the checkpoint holds a view (node {view}) this pipeline does not have"
            )));
        };
        let data = v.contents.restore(bytes)?;
        self.data.0.insert(view, data);
        Ok(())
    }

    /// The current contents of every view.
    pub(super) fn side_inputs(&self) -> &SideInputs {
        &self.data
    }

    /// The views that read `collection`.
    pub(super) fn readers_of(&self, collection: CollectionId) -> Vec<ViewId> {
        let mut ids: Vec<ViewId> = self
            .views
            .iter()
            .filter(|(_, v)| v.input == collection)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Adds a bundle of the view's input: per window, a newer pane replaces the contents.
    pub(super) fn receive(&mut self, view: ViewId, bundle: Bundle) -> Result<(), PipelineError> {
        let v = self.views.get_mut(&view).expect("a view of the graph");
        let data = v.contents.receive(bundle)?;
        self.data.0.insert(view, data);
        Ok(())
    }

    /// Whether an element in `main_window` can read `view`, whose input watermark is
    /// `watermark`.
    fn ready(&self, view: ViewId, main_window: &Window, watermark: Timestamp) -> bool {
        self.views[&view].contents.ready(main_window, watermark)
    }

    /// The earliest timestamp among the elements waiting in `stage`: its watermark hold.
    pub(super) fn hold(&self, stage: usize) -> Option<Timestamp> {
        self.waiting
            .get(&stage)?
            .iter()
            .flat_map(|b| b.meta())
            .map(|m| m.timestamp)
            .min()
    }
}

impl Streaming<'_> {
    /// The views the first operator of `stage` reads, when it is a side-input stage.
    pub(super) fn stage_views(&self, stage: usize) -> &[NodeId] {
        match self.plan.stages[stage].root {
            StageRoot::Materialized(_) => {
                let first = self.plan.stages[stage].ops[0];
                &self.plan.graph.node(first).side_inputs
            }
            _ => &[],
        }
    }

    /// Delivers a bundle to a side-input stage: what can read its views goes through now (after
    /// what already waits), the rest waits.
    pub(super) fn deliver_to_side_input_stage(
        &mut self,
        stage: usize,
        bundle: Bundle,
    ) -> Result<(), PipelineError> {
        self.views.waiting.entry(stage).or_default().push(bundle);
        self.release_waiting(stage)
    }

    /// Runs the waiting elements of `stage` whose views are ready, in arrival order, until the
    /// first that must still wait.
    pub(super) fn release_waiting(&mut self, stage: usize) -> Result<(), PipelineError> {
        let views: Vec<NodeId> = self.stage_views(stage).to_vec();
        let watermarks: Vec<Timestamp> = views
            .iter()
            .map(|v| self.collection_watermark(self.views.views[v].input))
            .collect();
        let mut ready_now = Vec::new();
        let waiting = self.views.waiting.entry(stage).or_default();
        let mut blocked = false;
        let mut still = Vec::new();
        for mut bundle in std::mem::take(waiting) {
            if blocked {
                still.push(bundle);
                continue;
            }
            let meta = bundle.meta();
            let first_blocked = meta.iter().position(|m| {
                !views
                    .iter()
                    .zip(&watermarks)
                    .all(|(v, w)| self.views.ready(*v, &m.window, *w))
            });
            match first_blocked {
                None => ready_now.push(bundle),
                Some(i) => {
                    let take: Vec<bool> = (0..meta.len()).map(|j| j < i).collect();
                    let ready = bundle.extract(&take);
                    if !ready.is_empty() {
                        ready_now.push(ready);
                    }
                    still.push(bundle);
                    blocked = true;
                }
            }
        }
        *self.views.waiting.entry(stage).or_default() = still;
        for bundle in ready_now {
            self.feed(stage, bundle)?;
        }
        Ok(())
    }

    /// Hands a bundle of a view's input to the view, updates the operators that read it, and
    /// releases what waited for it.
    pub(super) fn update_view(
        &mut self,
        view: ViewId,
        bundle: Bundle,
    ) -> Result<(), PipelineError> {
        self.views.receive(view, bundle)?;
        let readers: Vec<usize> = (0..self.plan.stages.len())
            .filter(|s| self.stage_views(*s).contains(&view))
            .collect();
        for s in readers {
            let side_inputs = self.views.side_inputs().clone();
            self.instances[s].update_side_inputs(&side_inputs);
            self.release_waiting(s)?;
        }
        Ok(())
    }
}

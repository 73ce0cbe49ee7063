//! The side inputs a stage reads on the timely runner, broadcast to every worker.
//!
//! In a bounded run a view's contents are gathered until its input has ended, then
//! materialized once; main input waits until then. In a streaming run a view updates
//! ([`UpdatingView`]): it starts empty and changes as its input's panes arrive. Updates wait, in
//! time order, until the main input reaches their epoch, so that a main-input element sees
//! every update of the epochs before its own — the direct runner's replay order — and none of
//! later ones, unless its side windows are not ready without them (then it takes them, as
//! Beam's readiness rule would).

use super::containers::ViewBlob;
use super::context::InputState;
use super::time::Time;
use sluice_runner_core::invoke::invoke;
use sluice_runner_core::{ExecutionPlan, UpdatingView};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::SideInputs;
use sluice_sdk::graph::{Bundle, NodeId, NodeKind};
use std::collections::VecDeque;

/// The side inputs of one stage on one worker.
pub struct StageSideInputs {
    /// Bounded runs: the View nodes, in input order, with the contents received so far.
    gathered: Vec<(NodeId, Vec<Bundle>)>,
    /// Streaming runs: the views, in input order, as they stand.
    updating: Vec<(NodeId, UpdatingView)>,
    /// Streaming runs: updates not applied yet (by position among the views), in time order.
    pending: VecDeque<(Time, usize, Bundle)>,
    /// The materialized side inputs: in a bounded run once every view is complete, in a
    /// streaming one from the start.
    ready: Option<SideInputs>,
}

impl StageSideInputs {
    /// The side inputs `views` (in the stage's input order) of a stage of `plan`; updating ones
    /// in a streaming run.
    pub fn new(
        plan: &ExecutionPlan,
        views: Vec<NodeId>,
        streaming: bool,
    ) -> Result<Self, PipelineError> {
        let mut side = StageSideInputs {
            gathered: Vec::new(),
            updating: Vec::new(),
            pending: VecDeque::new(),
            ready: views.is_empty().then(SideInputs::default),
        };
        if streaming && !views.is_empty() {
            let mut data = SideInputs::default();
            for view in views {
                let updating = UpdatingView::of(&plan.graph, view);
                data.0.insert(view, updating.materialize()?);
                side.updating.push((view, updating));
            }
            side.ready = Some(data);
        } else {
            side.gathered = views.into_iter().map(|v| (v, Vec::new())).collect();
        }
        Ok(side)
    }

    /// Whether the views update (a streaming run that reads some).
    pub fn updating(&self) -> bool {
        !self.updating.is_empty()
    }

    /// The materialized side inputs, once there are some to read.
    pub fn ready(&self) -> Option<&SideInputs> {
        self.ready.as_ref()
    }

    /// Takes in contents that arrived (by position among the views, with their times). A
    /// bounded run materializes the views once every one has `ended`, and returns them then.
    pub fn receive(
        &mut self,
        plan: &ExecutionPlan,
        blobs: Vec<(usize, Time, Vec<ViewBlob>)>,
        ended: bool,
    ) -> Result<Option<&SideInputs>, PipelineError> {
        for (i, time, blobs) in blobs {
            let view = match self.updating.get(i) {
                Some((view, _)) => *view,
                None => self.gathered[i].0,
            };
            let node = plan.graph.node(view);
            let NodeKind::View(kernel) = &node.kind else {
                unreachable!("side inputs are View nodes")
            };
            for blob in blobs {
                let bundle = invoke(&node.name, || kernel.decode_input(&blob.bytes))?;
                if self.updating() {
                    self.pending.push_back((time, i, bundle));
                } else {
                    self.gathered[i].1.push(bundle);
                }
            }
        }
        if self.updating() {
            self.pending
                .make_contiguous()
                .sort_by_key(|(t, i, _)| (t.outer, t.inner, *i));
            return Ok(None);
        }
        if self.ready.is_some() || !ended {
            return Ok(None);
        }
        let mut side_inputs = SideInputs::default();
        for (view, bundles) in std::mem::take(&mut self.gathered) {
            let node = plan.graph.node(view);
            let NodeKind::View(kernel) = &node.kind else {
                unreachable!("side inputs are View nodes")
            };
            let data = invoke(&node.name, || kernel.materialize(bundles))?;
            side_inputs.0.insert(view, data);
        }
        Ok(Some(self.ready.insert(side_inputs)))
    }

    /// Applies to the updating views the pending updates of epochs up to `epoch` (all of them
    /// when `None`), or only the first pending one when `next_only`. Returns the side inputs
    /// if they changed.
    pub fn apply(
        &mut self,
        epoch: Option<u64>,
        next_only: bool,
    ) -> Result<Option<&SideInputs>, PipelineError> {
        let mut applied = false;
        while let Some((time, _, _)) = self.pending.front() {
            if epoch.is_some_and(|e| time.outer > e) || (next_only && applied) {
                break;
            }
            let (_, i, bundle) = self.pending.pop_front().expect("checked above");
            let (view, updating) = &mut self.updating[i];
            let data = updating.receive(bundle)?;
            self.ready
                .get_or_insert_with(SideInputs::default)
                .0
                .insert(*view, data);
            applied = true;
        }
        Ok(if applied { self.ready.as_ref() } else { None })
    }

    /// How many elements at the front of `bundle` may read the updating views now (their side
    /// windows are ready, by the views' input watermarks in `input`).
    pub fn ready_prefix(&self, bundle: &Bundle, input: &InputState) -> usize {
        let meta = bundle.meta();
        meta.iter()
            .position(|m| {
                !self
                    .updating
                    .iter()
                    .zip(&input.side)
                    .all(|((_, view), (watermark, _))| view.ready(&m.window, *watermark))
            })
            .unwrap_or(meta.len())
    }

    /// Whether a view may still send updates of an epoch before `epoch`.
    pub fn may_update_before(input: &InputState, epoch: u64) -> bool {
        input.side.iter().any(|(_, e)| e.is_some_and(|e| e < epoch))
    }
}

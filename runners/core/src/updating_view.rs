//! A side input that changes while a streaming pipeline runs.
//!
//! An updating view keeps, per side-input window, the elements of the latest pane it received: a
//! new pane of a window replaces the previous one, as a triggered side input does in Beam,
//! and elements that no trigger produced accumulate. After each change the view is
//! materialized again, for the operators that read it.
//!
//! A main-input element in window `w` reads the side window that the view's window function
//! maps `w` to. That window is **ready** once the view has received a pane for it (elements a
//! trigger produced), or once the view's input watermark has passed its end: then the window
//! is complete — elements that no trigger produced (a bounded input read straight into a
//! view, for one) are read only then, since until then they may be a part of it. Which
//! pane an element sees is not otherwise promised — Beam does not promise it either. Both
//! streaming runners keep their views here; each decides when an element may look.

use crate::invoke::invoke;
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::ViewKernel;
use sluice_sdk::graph::{Bundle, Graph, NodeId, NodeKind};
use sluice_sdk::pane::PaneInfo;
use sluice_sdk::time::Timestamp;
use sluice_sdk::window::{Window, WindowFn};
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

/// What a view's operators read: its materialized contents.
pub type ViewData = Arc<dyn Any + Send + Sync>;

/// One window of a view, as a checkpoint keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct ViewWindowSnapshot {
    window: Window,
    pane: Option<u64>,
    /// The bundles, each encoded by the view's kernel.
    bundles: Vec<Vec<u8>>,
}

/// One view's contents as they stand.
pub struct UpdatingView {
    name: String,
    kernel: Arc<dyn ViewKernel>,
    /// The window function of the view's input.
    window_fn: Arc<dyn WindowFn>,
    /// Per side window: the pane index of its contents (`None`: no trigger's output) and the
    /// contents.
    contents: HashMap<Window, (Option<u64>, Vec<Bundle>)>,
}

impl UpdatingView {
    /// The view node `node` of `graph`, empty.
    pub fn of(graph: &Graph, node: NodeId) -> Self {
        let n = graph.node(node);
        let NodeKind::View(kernel) = &n.kind else {
            unreachable!("updating views are made of View nodes")
        };
        UpdatingView {
            name: n.name.clone(),
            kernel: Arc::clone(kernel),
            window_fn: graph.collection(n.inputs[0]).windowing.window_fn.clone(),
            contents: HashMap::new(),
        }
    }

    /// The view materialized from what it holds now.
    pub fn materialize(&self) -> Result<ViewData, PipelineError> {
        let all: Vec<Bundle> = self
            .contents
            .values()
            .flat_map(|(_, bundles)| bundles.iter().cloned())
            .collect();
        invoke(&self.name, || self.kernel.materialize(all))
    }

    /// Adds a bundle of the view's input (per window, a newer pane replaces the contents) and
    /// returns the view materialized again.
    pub fn receive(&mut self, mut bundle: Bundle) -> Result<ViewData, PipelineError> {
        while !bundle.is_empty() {
            let meta = bundle.meta();
            let (window, pane) = (meta[0].window, meta[0].pane);
            let same: Vec<bool> = meta
                .iter()
                .map(|m| m.window == window && m.pane == pane)
                .collect();
            let part = bundle.extract(&same);
            let index = (pane != PaneInfo::NO_FIRING).then_some(pane.index);
            let entry = self.contents.entry(window).or_insert((index, Vec::new()));
            match (entry.0, index) {
                (Some(held), Some(new)) if new > held => *entry = (index, vec![part]),
                _ => entry.1.push(part),
            }
        }
        self.materialize()
    }

    /// What the view holds, encoded by its kernel: what a checkpoint keeps of it.
    pub fn snapshot(&self) -> Result<Vec<u8>, PipelineError> {
        let mut windows: Vec<ViewWindowSnapshot> = Vec::with_capacity(self.contents.len());
        for (window, (pane, bundles)) in &self.contents {
            let bundles = bundles
                .iter()
                .map(|b| invoke(&self.name, || self.kernel.encode_input(b.clone())))
                .collect::<Result<_, _>>()?;
            windows.push(ViewWindowSnapshot {
                window: *window,
                pane: *pane,
                bundles,
            });
        }
        sluice_sdk::element::encode(&windows).map_err(|e| PipelineError::Coder {
            transform: self.name.clone(),
            message: format!("cannot encode the view for a checkpoint: {e}"),
        })
    }

    /// Puts back what [`snapshot`](Self::snapshot) wrote; returns the view materialized.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<ViewData, PipelineError> {
        let windows: Vec<ViewWindowSnapshot> =
            sluice_sdk::element::decode(bytes).map_err(|e| PipelineError::Coder {
                transform: self.name.clone(),
                message: format!("cannot decode the view from a checkpoint: {e}"),
            })?;
        self.contents.clear();
        for w in windows {
            let bundles = w
                .bundles
                .iter()
                .map(|b| invoke(&self.name, || self.kernel.decode_input(b)))
                .collect::<Result<_, _>>()?;
            self.contents.insert(w.window, (w.pane, bundles));
        }
        self.materialize()
    }

    /// Whether an element in `main_window` can read the view, whose input watermark is
    /// `watermark`.
    pub fn ready(&self, main_window: &Window, watermark: Timestamp) -> bool {
        let side = self.window_fn.side_input_window(main_window);
        let fired = self
            .contents
            .get(&side)
            .is_some_and(|(pane, _)| pane.is_some());
        fired || watermark > side.max_timestamp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::pane::PaneTiming;
    use sluice_sdk::prelude::*;

    /// A graph with one singleton view over a global-window collection; returns it and the
    /// view's node.
    fn graph_with_view() -> (Graph, NodeId) {
        let p = Pipeline::new();
        p.apply("Side", Create::of(vec![0i64]))
            .apply("View", View::iterable());
        let graph = p.graph().expect("a valid pipeline");
        let node = graph
            .nodes
            .iter()
            .find(|n| matches!(n.kind, NodeKind::View(_)))
            .map(|n| n.id)
            .expect("a view node");
        (graph, node)
    }

    fn pane(index: u64) -> PaneInfo {
        PaneInfo {
            timing: PaneTiming::Early,
            is_first: index == 0,
            is_last: false,
            index,
            non_speculative_index: 0,
        }
    }

    fn values(data: &ViewData) -> Vec<i64> {
        let mut v: Vec<i64> = data
            .downcast_ref::<sluice_sdk::side_input::ViewData<Vec<i64>>>()
            .expect("a list view")
            .get(&Window::Global)
            .expect("a value")
            .clone();
        v.sort_unstable();
        v
    }

    #[test]
    fn a_later_pane_replaces_the_window_and_unfired_elements_accumulate() {
        let (graph, node) = graph_with_view();
        let mut view = UpdatingView::of(&graph, node);
        let at = |v: i64, p: PaneInfo| WindowedValue {
            value: v,
            timestamp: Timestamp::from_millis(1),
            window: Window::Global,
            pane: p,
        };
        assert!(!view.ready(&Window::Global, Timestamp::from_millis(5)));
        let first = view.receive(Bundle::new(vec![at(1, pane(0)), at(2, pane(0))]));
        assert_eq!(values(&first.unwrap()), vec![1, 2]);
        assert!(view.ready(&Window::Global, Timestamp::MIN));
        let second = view.receive(Bundle::new(vec![at(7, pane(1))])).unwrap();
        assert_eq!(values(&second), vec![7]);
        let older = view.receive(Bundle::new(vec![at(3, pane(0))])).unwrap();
        assert_eq!(values(&older), vec![3, 7], "an older pane does not replace");
    }

    #[test]
    fn an_empty_window_is_ready_once_the_watermark_passed_it() {
        let (graph, node) = graph_with_view();
        let view = UpdatingView::of(&graph, node);
        assert!(!view.ready(&Window::Global, Timestamp::from_millis(1_000)));
        assert!(view.ready(&Window::Global, Timestamp::MAX));
    }

    #[test]
    fn elements_no_trigger_produced_are_read_once_their_window_is_complete() {
        let (graph, node) = graph_with_view();
        let mut view = UpdatingView::of(&graph, node);
        let unfired = WindowedValue::in_global_window(4i64, Timestamp::from_millis(1));
        view.receive(Bundle::new(vec![unfired])).unwrap();
        assert!(!view.ready(&Window::Global, Timestamp::from_millis(1_000)));
        assert!(view.ready(&Window::Global, Timestamp::MAX));
    }
}

//! Building a worker's timely dataflow from the plan: one operator per stage, wired by the
//! PCollections and keyed records that pass between stages, plus one operator per side-input
//! view that sends the view's contents to every worker.

use super::containers::{Bundles, ByKey, KeyedBatch, ViewBlob};
use super::context::{Context, InputState, Outputs, Received};
use super::stage::{StageLogic, bundle_inputs, stage_views};
use super::time::{self, Time};
use sluice_runner_core::invoke::invoke;
use sluice_runner_core::{ExecutionPlan, Sink, StageRoot};
use sluice_sdk::graph::{CollectionId, NodeId, NodeKind};
use std::collections::HashMap;
use std::rc::Rc;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{DistributorPact, Exchange, Pipeline};
use timely::dataflow::operators::Probe;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::progress::frontier::MutableAntichain;
use timely::worker::Worker;

/// The streams built so far, by what they carry.
#[derive(Default)]
struct Streams<'scope> {
    /// The bundles of each PCollection read by a later stage or a view.
    stored: HashMap<CollectionId, Stream<'scope, Time, Bundles>>,
    /// The keyed records for each keyed node, one stream per stage that makes them.
    keyed: HashMap<NodeId, Vec<Stream<'scope, Time, KeyedBatch>>>,
    /// The contents of each view, a copy addressed to every worker.
    views: HashMap<NodeId, Stream<'scope, Time, Vec<ViewBlob>>>,
}

/// Builds the plan's dataflow on `worker`.
///
/// Every process builds its operators in the same order, so that timely matches them up
/// across processes: stages in plan order, and within a stage its outputs ordered by what
/// they carry (never in a hash map's order).
pub fn build(worker: &mut Worker, ctx: &Rc<Context>) {
    let plan = Arc::clone(&ctx.plan);
    // Product times do not stand at the top of a dataflow: the pipeline lives in a scope of
    // its own within one (with a plain epoch outside, never used).
    worker.dataflow::<u64, _, _>(|outer| {
        outer.scoped::<Time, _, _>("pipeline", |scope| build_stages(scope, &plan, ctx))
    });
}

/// Builds the operators of every stage (and view) in `scope`.
fn build_stages(
    scope: timely::dataflow::Scope<'_, Time>,
    plan: &Arc<ExecutionPlan>,
    ctx: &Rc<Context>,
) {
    {
        let mut streams = Streams::default();
        for stage in &plan.stages {
            let mut builder = OperatorBuilder::new(format!("stage {}", stage.id), scope);
            let activator = scope.activator_for(builder.operator_info().address);

            let mut bundle_in = Vec::new();
            for c in bundle_inputs(plan, stage.id) {
                let stream = streams.stored[&c].clone();
                bundle_in.push(builder.new_input(stream, Pipeline));
            }
            let mut keyed_in = Vec::new();
            if let StageRoot::Group { node, .. } = stage.root {
                for stream in streams.keyed.get(&node).cloned().unwrap_or_default() {
                    keyed_in.push(builder.new_input(stream, DistributorPact(|_| ByKey)));
                }
            }
            let mut view_in = Vec::new();
            for v in stage_views(plan, stage.id) {
                let stream = streams.views[&v].clone();
                view_in.push(builder.new_input(stream, Exchange::new(|b: &ViewBlob| b.target)));
            }

            let mut collections: Vec<CollectionId> = Vec::new();
            let mut keyed_nodes: Vec<NodeId> = Vec::new();
            for sink in stage.routes.values().flatten() {
                match *sink {
                    Sink::Store(c) => collections.push(c),
                    Sink::Encode(n) | Sink::PreCombine(n) => keyed_nodes.push(n),
                    Sink::Op(_) => {}
                }
            }
            collections.sort();
            collections.dedup();
            keyed_nodes.sort();
            keyed_nodes.dedup();
            let mut outputs = Outputs::default();
            for c in collections {
                let (output, stream) = builder.new_output::<Bundles>();
                streams.stored.insert(c, stream);
                outputs.stored.push((c, output));
            }
            for n in keyed_nodes {
                let (output, stream) = builder.new_output::<KeyedBatch>();
                streams.keyed.entry(n).or_default().push(stream);
                outputs.keyed.push((n, output));
            }

            // Every stage has one more output that carries nothing: its frontier is what the
            // stage may still send, and the probe watches it (checkpoints of epochs no stage
            // holds any more are finalized).
            let (_progress, progress) = builder.new_output::<Bundles>();
            progress.probe_with(&ctx.probe);
            let sync = scope
                .worker()
                .sync_activator_for(builder.operator_info().address.to_vec());
            let notify: sluice_runner_core::readers::Notify = Arc::new(move || {
                let _ = sync.activate();
            });
            let mut logic = StageLogic::new(Rc::clone(ctx), stage.id, outputs, notify);
            let main_inputs = bundle_in.len() + keyed_in.len();
            builder.build(move |caps| {
                logic.start(caps);
                move |frontiers| {
                    let mut received = Received::default();
                    for input in &mut bundle_in {
                        input.for_each(|cap, data| {
                            let t = stamp_time(&cap);
                            received.bundles.extend(data.0.drain(..).map(|b| (t, b)));
                        });
                    }
                    for input in &mut keyed_in {
                        input.for_each(|cap, data| {
                            received
                                .keyed
                                .push((stamp_time(&cap), std::mem::take(data)));
                        });
                    }
                    for (i, input) in view_in.iter_mut().enumerate() {
                        input.for_each(|cap, data| {
                            received
                                .views
                                .push((i, stamp_time(&cap), std::mem::take(data)))
                        });
                    }
                    let (main, side) = frontiers.split_at(main_inputs);
                    let ended =
                        |f: &[MutableAntichain<Time>]| f.iter().all(|f| f.frontier().is_empty());
                    let input = InputState {
                        ended: ended(main),
                        side_ended: ended(side),
                        side: side
                            .iter()
                            .map(|f| (time::watermark_of([f]), time::epoch_of([f])))
                            .collect(),
                        watermark: time::watermark_of(main),
                        epoch: time::epoch_of(main),
                        least: time::least(frontiers),
                    };
                    match logic.step(received, &input) {
                        Some(delay) if delay.is_zero() => activator.activate(),
                        Some(delay) => activator.activate_after(delay),
                        None => {}
                    }
                }
            });

            for &view in &stage.views {
                let input = plan.graph.node(view).inputs[0];
                let stream = streams.stored[&input].clone();
                streams
                    .views
                    .insert(view, broadcast_view(ctx, view, stream));
            }
        }
    }
}

use std::sync::Arc;

/// The time of a received batch: the least time of its stamp (part by part).
fn stamp_time(cap: &timely::dataflow::operators::InputCapability<Time>) -> Time {
    cap.stamp()
        .iter()
        .copied()
        .reduce(|a, b| time::meet(&a, &b))
        .unwrap_or_default()
}

/// An operator that encodes the contents of `view` and addresses a copy to every worker.
fn broadcast_view<'scope>(
    ctx: &Rc<Context>,
    view: NodeId,
    input: Stream<'scope, Time, Bundles>,
) -> Stream<'scope, Time, Vec<ViewBlob>> {
    let ctx = Rc::clone(ctx);
    let mut builder = OperatorBuilder::new(format!("view {view}"), input.scope());
    let mut input = builder.new_input(input, Pipeline);
    let (mut output, stream) = builder.new_output::<Vec<ViewBlob>>();
    builder.build(move |_caps| {
        move |_frontiers| {
            let plan = Arc::clone(&ctx.plan);
            let node = plan.graph.node(view);
            let NodeKind::View(kernel) = &node.kind else {
                unreachable!("views are View nodes")
            };
            let mut session = output.activate();
            input.for_each(|cap, data| {
                let mut blobs = Vec::new();
                for bundle in data.0.drain(..) {
                    match invoke(&node.name, || kernel.encode_input(bundle)) {
                        Ok(bytes) => blobs.extend((0..ctx.peers as u64).map(|target| ViewBlob {
                            target,
                            bytes: bytes.clone(),
                        })),
                        Err(e) => ctx.fail(e),
                    }
                }
                session.give(&cap, &mut blobs);
            });
        }
    });
    stream
}

//! The physical plan: how a pipeline's graph is cut into fused stages.
//!
//! The graph says *what* to compute; the plan says *how*. Chains of element-wise transforms
//! (ParDo and the closures built on it) are **fused** into a stage: a bundle enters at the
//! stage's root and flows through every fused operator by plain function calls, with no
//! queue in between. A stage ends where data must be regrouped or materialized:
//!
//! - a **GroupByKey / Combine** starts a stage (its output comes from GroupAlsoByWindow), and
//!   so does a **stateful ParDo** (its input is shuffled by key the same way). In a batch
//!   plan the producing stage encodes their input into keyed records as it runs (the typed
//!   bundles are not kept); when the transform is a Combine on non-merging windows whose
//!   trigger looks at the watermark only, it is **lifted**: the producing stage pre-combines
//!   its input per key and window, and only partial accumulators cross the shuffle;
//! - a **Flatten** or **Reshuffle** starts a stage;
//! - a **ParDo with side inputs** starts a stage, since its side inputs must be complete first;
//! - a **View** materializes its input once the producing stage is done.
//!
//! Stages are listed so that every stage comes after the stages it reads from.

use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::{Boundedness, CollectionId, Graph, NodeId, NodeKind};
use sluice_sdk::trigger::{TimestampCombiner, Trigger};
use std::collections::HashMap;

/// Where a stage's input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageRoot {
    /// A source read.
    Read(NodeId),
    /// The output of a keyed transform: a grouping or a stateful ParDo.
    Group {
        /// The GroupByKey, Combine or stateful ParDo node.
        node: NodeId,
        /// How its input reaches it.
        input: GroupInput,
    },
    /// The concatenation of a Flatten's inputs.
    Flatten(NodeId),
    /// A Reshuffle's input, redistributed.
    Reshuffle(NodeId),
    /// A materialized PCollection (read by a ParDo that has side inputs).
    Materialized(CollectionId),
}

/// How a keyed stage's input reaches it from the stages that produce it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupInput {
    /// As stored bundles, which the keyed stage encodes into records (streaming).
    Stored,
    /// As keyed records, encoded by the producing stages as they run (batch): the typed
    /// bundles are never kept.
    Encoded,
    /// As partial accumulators pre-combined by the producing stages (a lifted Combine).
    PreCombined,
}

/// Where the bundles of a PCollection go within a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sink {
    /// Into a fused operator of the same stage (index into [`Stage::ops`]).
    Op(usize),
    /// Stored for later stages.
    Store(CollectionId),
    /// Into the pre-combiner of a lifted Combine node.
    PreCombine(NodeId),
    /// Encoded into keyed records for a keyed node (see [`GroupInput::Encoded`]).
    Encode(NodeId),
}

/// A fused chain (or tree) of element-wise operators with one root.
#[derive(Clone, Debug)]
pub struct Stage {
    /// Position in [`ExecutionPlan::stages`].
    pub id: usize,
    /// Where its input comes from.
    pub root: StageRoot,
    /// The PCollection the root yields.
    pub root_output: CollectionId,
    /// The fused ParDo nodes, in topological order.
    pub ops: Vec<NodeId>,
    /// For every PCollection produced in this stage: where its bundles go.
    pub routes: HashMap<CollectionId, Vec<Sink>>,
    /// View nodes to materialize once this stage is done.
    pub views: Vec<NodeId>,
}

/// A pipeline cut into stages, in execution order.
#[derive(Clone)]
pub struct ExecutionPlan {
    /// The graph the plan executes.
    pub graph: Graph,
    /// Stages, each after the stages it depends on.
    pub stages: Vec<Stage>,
    /// How many stages read each stored PCollection (to free it after its last reader).
    pub store_readers: HashMap<CollectionId, usize>,
    /// Who watches the run: stage instances report their counts to it (off by default).
    pub observer: crate::observe::Observer,
}

impl ExecutionPlan {
    /// Plans `graph`.
    pub fn new(graph: Graph) -> Self {
        Self::planned(graph, true, true)
    }

    /// Plans `graph` for streaming execution: no combiner lifting, since partial results
    /// would have to be flushed at every watermark advance, and keyed stages take their input
    /// as bundles as it comes.
    pub fn for_streaming(graph: Graph) -> Self {
        Self::planned(graph, false, false)
    }

    /// Plans `graph` for a runner that moves keyed input between workers: the producing
    /// stages always encode it (it crosses an exchange as keyed records), and lift combines
    /// when `lift` is set.
    pub fn for_exchange(graph: Graph, lift: bool) -> Self {
        Self::planned(graph, true, lift)
    }

    /// Plans `graph`; `encode` makes producing stages encode keyed input, `lift` lifts
    /// combines.
    fn planned(graph: Graph, encode: bool, lift: bool) -> Self {
        let mut stages: Vec<Stage> = Vec::new();
        let mut stage_of: HashMap<CollectionId, usize> = HashMap::new();
        let mut fused_in: HashMap<NodeId, usize> = HashMap::new();
        let mut group_input: HashMap<NodeId, GroupInput> = HashMap::new();

        let new_stage = |stages: &mut Vec<Stage>, root: StageRoot, root_output: CollectionId| {
            let id = stages.len();
            stages.push(Stage {
                id,
                root,
                root_output,
                ops: Vec::new(),
                routes: HashMap::new(),
                views: Vec::new(),
            });
            id
        };

        for node in &graph.nodes {
            match &node.kind {
                NodeKind::Read(_) | NodeKind::TestStream(_) | NodeKind::ReadUnbounded(_) => {
                    let s = new_stage(&mut stages, StageRoot::Read(node.id), node.outputs[0]);
                    stage_of.insert(node.outputs[0], s);
                }
                NodeKind::GroupByKey(_) | NodeKind::StatefulParDo(_) => {
                    let input = group_input_of(&graph, node, encode, lift);
                    group_input.insert(node.id, input);
                    let s = new_stage(
                        &mut stages,
                        StageRoot::Group {
                            node: node.id,
                            input,
                        },
                        node.outputs[0],
                    );
                    stage_of.insert(node.outputs[0], s);
                }
                NodeKind::Flatten => {
                    let s = new_stage(&mut stages, StageRoot::Flatten(node.id), node.outputs[0]);
                    stage_of.insert(node.outputs[0], s);
                }
                NodeKind::Reshuffle => {
                    let s = new_stage(&mut stages, StageRoot::Reshuffle(node.id), node.outputs[0]);
                    stage_of.insert(node.outputs[0], s);
                }
                NodeKind::View(_) => {
                    let s = stage_of[&node.inputs[0]];
                    stages[s].views.push(node.id);
                }
                NodeKind::ParDo(_) => {
                    let input = node.inputs[0];
                    let s = if node.side_inputs.is_empty() {
                        stage_of[&input]
                    } else {
                        new_stage(&mut stages, StageRoot::Materialized(input), input)
                    };
                    stages[s].ops.push(node.id);
                    fused_in.insert(node.id, s);
                    for out in &node.outputs {
                        stage_of.insert(*out, s);
                    }
                }
            }
        }

        // Route every PCollection produced in a stage to its consumers.
        let mut store_readers: HashMap<CollectionId, usize> = HashMap::new();
        for (collection, &s) in &stage_of {
            let mut sinks = Vec::new();
            for consumer in graph.consumers(*collection) {
                let node = graph.node(consumer);
                let fused_here = fused_in.get(&consumer) == Some(&s)
                    && stages[s].root != StageRoot::Materialized(*collection);
                let sink = if fused_here {
                    Sink::Op(
                        stages[s]
                            .ops
                            .iter()
                            .position(|n| *n == consumer)
                            .expect("fused op is in its stage"),
                    )
                } else if group_input.get(&node.id) == Some(&GroupInput::PreCombined) {
                    Sink::PreCombine(consumer)
                } else if group_input.get(&node.id) == Some(&GroupInput::Encoded) {
                    Sink::Encode(consumer)
                } else {
                    *store_readers.entry(*collection).or_default() += 1;
                    Sink::Store(*collection)
                };
                if !sinks.contains(&sink) {
                    sinks.push(sink);
                }
            }
            // Views read stored bundles too.
            let viewers = graph
                .nodes
                .iter()
                .filter(|n| matches!(n.kind, NodeKind::View(_)) && n.inputs[0] == *collection)
                .count();
            if viewers > 0 {
                *store_readers.entry(*collection).or_default() += viewers;
                if !sinks.contains(&Sink::Store(*collection)) {
                    sinks.push(Sink::Store(*collection));
                }
            }
            stages[s].routes.insert(*collection, sinks);
        }
        // A stage rooted at a materialized PCollection feeds it to its first (side-input) ParDo.
        for stage in &mut stages {
            if let StageRoot::Materialized(c) = stage.root {
                stage.routes.insert(c, vec![Sink::Op(0)]);
            }
        }
        // A consumer reached through several inputs (Flatten of one collection twice) reads
        // it once per input; the sinks above were deduplicated, so count readers per input.
        for node in &graph.nodes {
            let mut seen = std::collections::HashSet::new();
            for input in &node.inputs {
                if !seen.insert(*input) && store_readers.contains_key(input) {
                    *store_readers.entry(*input).or_default() += 1;
                }
            }
        }
        ExecutionPlan {
            graph,
            stages,
            store_readers,
            observer: crate::observe::Observer::default(),
        }
    }

    /// The plan, reporting to the run's observer.
    pub fn with_observer(mut self, observer: crate::observe::Observer) -> Self {
        self.observer = observer;
        self
    }

    /// A fingerprint of the plan: its nodes, their kinds and connections, and its stages.
    /// Two processes of a cluster check that they run the same plan by it, and a checkpoint
    /// is restored only into the plan that wrote it.
    pub fn fingerprint(&self) -> u64 {
        let mut text = self.describe();
        for node in &self.graph.nodes {
            let kind = match &node.kind {
                NodeKind::Read(_) => "read",
                NodeKind::ReadUnbounded(_) => "read-unbounded",
                NodeKind::TestStream(_) => "test-stream",
                NodeKind::ParDo(_) => "pardo",
                NodeKind::StatefulParDo(_) => "stateful-pardo",
                NodeKind::GroupByKey(_) => "group",
                NodeKind::Flatten => "flatten",
                NodeKind::Reshuffle => "reshuffle",
                NodeKind::View(_) => "view",
            };
            text.push_str(&format!(
                "{}|{}|{kind}|{:?}|{:?}|{:?}\n",
                node.id, node.name, node.inputs, node.outputs, node.side_inputs
            ));
        }
        sluice_sdk::element::stable_hash(text.as_bytes())
    }

    /// A readable description of the plan, one stage per line.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for s in &self.stages {
            let ops: Vec<&str> = s
                .ops
                .iter()
                .map(|n| self.graph.node(*n).name.as_str())
                .collect();
            out.push_str(&format!(
                "stage {}: {:?} -> [{}]\n",
                s.id,
                s.root,
                ops.join(", ")
            ));
        }
        out
    }
}

/// How the keyed node `node` takes its input: pre-combined when it is a Combine that can be
/// lifted (and `lift` is set), encoded upstream when `encode` is set, stored bundles otherwise.
fn group_input_of(
    graph: &Graph,
    node: &sluice_sdk::graph::Node,
    encode: bool,
    lift: bool,
) -> GroupInput {
    if !encode {
        return GroupInput::Stored;
    }
    let NodeKind::GroupByKey(kernel) = &node.kind else {
        return GroupInput::Encoded;
    };
    let input = graph.collection(node.inputs[0]);
    // Pre-combining changes what a trigger counts (accumulators, not elements), so only
    // triggers that look at nothing but the watermark allow it.
    let watermark_only = matches!(
        input.windowing.trigger,
        Trigger::Default
            | Trigger::AfterWatermark {
                early: None,
                late: None
            }
    );
    // In streaming, a record behind the input watermark does not hold an earliest or latest
    // output timestamp back; a partial accumulator would mix such records with the others
    // and lose which were which, so those combiners are not lifted there.
    let stamps_keep = input.windowing.timestamp_combiner == TimestampCombiner::EndOfWindow
        || !graph.is_streaming();
    if lift
        && kernel.pre_combiner().is_some()
        && !input.windowing.window_fn.is_merging()
        && watermark_only
        && stamps_keep
    {
        GroupInput::PreCombined
    } else {
        GroupInput::Encoded
    }
}

/// Fails if the pipeline reads an unbounded source: `runner` executes bounded pipelines only.
/// The error names the source and gives `advice`.
pub fn check_bounded(graph: &Graph, runner: &str, advice: &str) -> Result<(), PipelineError> {
    let unbounded = graph.nodes.iter().find(|n| {
        n.inputs.is_empty()
            && n.outputs
                .iter()
                .any(|c| graph.collection(*c).boundedness == Boundedness::Unbounded)
    });
    match unbounded {
        None => Ok(()),
        Some(node) => Err(PipelineError::Unsupported {
            runner: runner.to_string(),
            reason: format!("source '{}' is unbounded; {advice}", node.name),
        }),
    }
}

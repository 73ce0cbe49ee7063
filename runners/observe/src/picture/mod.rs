//! Pictures of a pipeline: its graph of transforms, and how a runner plans to execute it.
//!
//! `--graph FILE` writes the picture instead of running the pipeline: Graphviz's DOT language for a `.dot` file
//! ([`dot`]), or a drawing for a `.svg` file ([`svg`]), laid out here ([`layout`]) so that no
//! Graphviz is needed. Both are drawn from one [`Diagram`]: boxes, the arrows between them and
//! the groups that nest boxes.
//!
//! - The **pipeline** ([`Diagram::of_graph`]) has a box per applied primitive transform,
//!   nested in the composite transforms that applied it (a name `A/B/C` sits in `A` and
//!   `A/B`), and an arrow per PCollection from its producer to each consumer, labelled with
//!   its element type, boundedness and windowing. Side inputs are dashed arrows from their
//!   view.
//! - With `--explain`, the runner's **plan** ([`Diagram::of_plan`]) is drawn beside it: a box
//!   per fused stage listing its transforms, and arrows for what passes between stages —
//!   stored bundles, an exchange by key (the keyed records, or the partial accumulators of a
//!   lifted combine), a broadcast side input.

pub mod dot;
pub mod layout;
pub mod svg;

use sluice_runner_core::{ExecutionPlan, GroupInput, Sink, StageRoot};
use sluice_sdk::graph::{Boundedness, CollectionInfo, Graph, NodeKind};
use sluice_sdk::trigger::Trigger;
use std::collections::BTreeMap;

/// A box of a diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagramBox {
    /// Its first line (a transform's own name, a stage's number).
    pub title: String,
    /// Its further lines (what kind of transform; a stage's transforms).
    pub lines: Vec<String>,
    /// The innermost group it sits in, if any (an index into [`Diagram::groups`]).
    pub group: Option<usize>,
    /// What it is, for its colour.
    pub role: Role,
}

/// What a box stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Reads a source.
    Source,
    /// Element-wise (ParDo, Flatten, Reshuffle).
    ElementWise,
    /// Keyed: a GroupByKey, Combine or stateful ParDo.
    Keyed,
    /// A side-input view.
    View,
    /// A stage of a plan.
    Stage,
}

/// An arrow between two boxes (indices into [`Diagram::boxes`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Arrow {
    /// Where it starts.
    pub from: usize,
    /// Where it ends.
    pub to: usize,
    /// What it carries.
    pub label: String,
    /// Dashed: a side input.
    pub dashed: bool,
}

/// A named group of boxes (a composite transform), possibly inside another.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Its name (the composite's own name).
    pub name: String,
    /// The group it sits in.
    pub parent: Option<usize>,
}

/// Boxes, arrows and groups: what both writers draw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagram {
    /// Its heading.
    pub title: String,
    /// The boxes, in an order where every arrow goes forward.
    pub boxes: Vec<DiagramBox>,
    /// The arrows.
    pub arrows: Vec<Arrow>,
    /// The groups.
    pub groups: Vec<Group>,
}

impl Group {
    /// The chain of groups from the outermost down to `group`.
    pub fn path(groups: &[Group], group: Option<usize>) -> Vec<usize> {
        let mut path = Vec::new();
        let mut at = group;
        while let Some(g) = at {
            path.push(g);
            at = groups[g].parent;
        }
        path.reverse();
        path
    }
}

/// The last part of a Rust type name's every path (`alloc::string::String` → `String`).
fn short_type(name: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(""));
            word.clear();
            out.push(c);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(""));
    out
}

/// A compact form of a `Debug` rendering (`FixedWindows { size: 60s }` → `FixedWindows(size:
/// 60s)`), cut to `max` characters.
fn compact(debug: String, max: usize) -> String {
    let s = debug.replace(" { ", "(").replace(" }", ")");
    if s.chars().count() > max {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// How a PCollection is described on its arrows: element type, boundedness, windowing.
pub fn describe_collection(c: &CollectionInfo) -> String {
    let mut parts = vec![short_type(c.element_type)];
    parts.push(match c.boundedness {
        Boundedness::Bounded => "bounded".into(),
        Boundedness::Unbounded => "unbounded".into(),
    });
    let w = &c.windowing;
    let window = compact(format!("{:?}", w.window_fn), 48);
    if window != "GlobalWindows" || w.trigger != Trigger::Default {
        parts.push(window);
    }
    if w.trigger != Trigger::Default {
        parts.push(compact(format!("{:?}", w.trigger), 48));
        parts.push(format!("{:?}", w.accumulation_mode).to_lowercase());
    }
    if w.allowed_lateness != sluice_sdk::time::Duration::ZERO {
        parts.push(format!("lateness {:?}", w.allowed_lateness));
    }
    parts.join(" · ")
}

/// The role of a transform's box.
fn role_of(kind: &NodeKind) -> Role {
    match kind {
        NodeKind::Read(_) | NodeKind::ReadUnbounded(_) | NodeKind::TestStream(_) => Role::Source,
        NodeKind::GroupByKey(_) | NodeKind::StatefulParDo(_) => Role::Keyed,
        NodeKind::View(_) => Role::View,
        NodeKind::ParDo(_) | NodeKind::Flatten | NodeKind::Reshuffle => Role::ElementWise,
    }
}

impl Diagram {
    /// The pipeline: a box per primitive transform, nested in its composites, and an arrow
    /// per PCollection and consumer.
    pub fn of_graph(graph: &Graph) -> Diagram {
        let mut d = Diagram {
            title: "pipeline".into(),
            ..Diagram::default()
        };
        let mut groups: BTreeMap<String, usize> = BTreeMap::new();
        for node in &graph.nodes {
            let parts: Vec<&str> = node.name.split('/').collect();
            let mut parent = None;
            for depth in 1..parts.len() {
                let path = parts[..depth].join("/");
                let g = *groups.entry(path).or_insert_with(|| {
                    d.groups.push(Group {
                        name: parts[depth - 1].to_string(),
                        parent,
                    });
                    d.groups.len() - 1
                });
                parent = Some(g);
            }
            d.boxes.push(DiagramBox {
                title: parts.last().copied().unwrap_or("").to_string(),
                lines: vec![node.kind.label().to_string()],
                group: parent,
                role: role_of(&node.kind),
            });
        }
        for node in &graph.nodes {
            for &input in &node.inputs {
                let c = graph.collection(input);
                d.arrows.push(Arrow {
                    from: c.producer,
                    to: node.id,
                    label: describe_collection(c),
                    dashed: false,
                });
            }
            for &view in &node.side_inputs {
                d.arrows.push(Arrow {
                    from: view,
                    to: node.id,
                    label: "side input".into(),
                    dashed: true,
                });
            }
        }
        d
    }

    /// A runner's plan (`runner` names it): a box per fused stage, and arrows for what
    /// passes between stages.
    pub fn of_plan(plan: &ExecutionPlan, runner: &str) -> Diagram {
        let graph = &plan.graph;
        let mut d = Diagram {
            title: format!("plan ({runner} runner)"),
            ..Diagram::default()
        };
        let name = |n: usize| graph.node(n).name.clone();
        for stage in &plan.stages {
            let (root, role) = match stage.root {
                StageRoot::Read(n) => (format!("read {}", name(n)), Role::Source),
                StageRoot::Group { node, input } => {
                    let how = match input {
                        GroupInput::Stored => "grouped",
                        GroupInput::Encoded => "grouped (keyed records)",
                        GroupInput::PreCombined => "combined (lifted)",
                    };
                    (format!("{how}: {}", name(node)), Role::Keyed)
                }
                StageRoot::Flatten(n) => (format!("flatten {}", name(n)), Role::ElementWise),
                StageRoot::Reshuffle(n) => (format!("reshuffle {}", name(n)), Role::ElementWise),
                StageRoot::Materialized(_) => ("with side inputs".to_string(), Role::ElementWise),
            };
            let mut lines = vec![root];
            lines.extend(stage.ops.iter().map(|&n| format!("→ {}", name(n))));
            d.boxes.push(DiagramBox {
                title: format!("stage {}", stage.id),
                lines,
                group: None,
                role,
            });
        }
        // Which stage reads what.
        let reads = |c: usize| -> Vec<usize> {
            plan.stages
                .iter()
                .filter(|s| match s.root {
                    StageRoot::Materialized(m) => m == c,
                    StageRoot::Flatten(n) | StageRoot::Reshuffle(n) => {
                        graph.node(n).inputs.contains(&c)
                    }
                    StageRoot::Group {
                        node,
                        input: GroupInput::Stored,
                    } => graph.node(node).inputs.contains(&c),
                    _ => false,
                })
                .map(|s| s.id)
                .collect()
        };
        let keyed_stage = |n: usize| {
            plan.stages
                .iter()
                .find(|s| matches!(s.root, StageRoot::Group { node, .. } if node == n))
                .map(|s| s.id)
        };
        let mut arrows: BTreeMap<(usize, usize, bool), String> = BTreeMap::new();
        for stage in &plan.stages {
            let mut routes: Vec<_> = stage.routes.iter().collect();
            routes.sort_by_key(|(c, _)| **c);
            for sink in routes.into_iter().flat_map(|(_, sinks)| sinks) {
                let (targets, label) = match *sink {
                    Sink::Op(_) => continue,
                    Sink::Store(c) => {
                        let targets = reads(c);
                        let keyed = targets.first().is_some_and(|&t| {
                            matches!(plan.stages[t].root, StageRoot::Group { .. })
                        });
                        let how = if keyed { "exchange by key" } else { "bundles" };
                        (targets, how)
                    }
                    Sink::Encode(n) => (
                        keyed_stage(n).into_iter().collect(),
                        "exchange by key (keyed records)",
                    ),
                    Sink::PreCombine(n) => (
                        keyed_stage(n).into_iter().collect(),
                        "exchange by key (partial accumulators)",
                    ),
                };
                for t in targets {
                    arrows
                        .entry((stage.id, t, false))
                        .or_insert_with(|| label.to_string());
                }
            }
            for &view in &stage.views {
                for reader in &plan.stages {
                    let reads_view = match reader.root {
                        StageRoot::Materialized(_) => reader
                            .ops
                            .first()
                            .is_some_and(|&op| graph.node(op).side_inputs.contains(&view)),
                        StageRoot::Group { node, .. } => {
                            graph.node(node).side_inputs.contains(&view)
                        }
                        _ => false,
                    };
                    if reads_view {
                        arrows
                            .entry((stage.id, reader.id, true))
                            .or_insert_with(|| {
                                format!("side input {} (to every worker)", name(view))
                            });
                    }
                }
            }
        }
        d.arrows = arrows
            .into_iter()
            .map(|((from, to, dashed), label)| Arrow {
                from,
                to,
                label,
                dashed,
            })
            .collect();
        d
    }
}

/// The formats `--graph` writes, by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Graphviz's DOT language (`.dot`, `.gv`).
    Dot,
    /// A drawing (`.svg`).
    Svg,
}

impl Format {
    /// The format a file's name asks for.
    pub fn of(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "dot" | "gv" => Some(Format::Dot),
            "svg" => Some(Format::Svg),
            _ => None,
        }
    }
}

/// The picture of `graph` (and, if given, the `plan` of the runner it names) in `format`.
pub fn render(graph: &Graph, plan: Option<(&ExecutionPlan, &str)>, format: Format) -> String {
    let mut diagrams = vec![Diagram::of_graph(graph)];
    if let Some((plan, runner)) = plan {
        diagrams.push(Diagram::of_plan(plan, runner));
    }
    match format {
        Format::Dot => dot::write(&diagrams),
        Format::Svg => svg::write(&diagrams),
    }
}

/// Writes the picture of `graph` to `path` (and, given `plan`, the plan of the runner it
/// names beside it), in the format the file's extension names.
pub fn write_file(
    path: &std::path::Path,
    graph: &Graph,
    plan: Option<(&ExecutionPlan, &str)>,
) -> Result<(), sluice_sdk::error::PipelineError> {
    use sluice_sdk::error::PipelineError;
    let format = Format::of(path).ok_or_else(|| {
        PipelineError::InvalidOption(format!(
            "--graph {}: the file must end in .dot (Graphviz) or .svg (a drawing)",
            path.display()
        ))
    })?;
    let text = render(graph, plan, format);
    std::fs::write(path, text).map_err(|e| {
        PipelineError::InvalidOption(format!("--graph {}: cannot write it: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::prelude::*;

    fn word_count() -> Graph {
        let p = Pipeline::new();
        p.apply(
            "Lines",
            Create::of(vec!["a b".to_string(), "b".to_string()]),
        )
        .apply(
            "Words",
            FlatMap::new(|l: String| l.split(' ').map(str::to_string).collect::<Vec<_>>()),
        )
        .apply("Count", Count::per_element());
        p.graph().unwrap()
    }

    #[test]
    fn composites_become_groups_and_collections_arrows() {
        let graph = word_count();
        let d = Diagram::of_graph(&graph);
        assert_eq!(d.boxes.len(), graph.nodes.len());
        // Every node named `A/B` sits in a group named `A`.
        for (node, b) in graph.nodes.iter().zip(&d.boxes) {
            let path: Vec<&str> = Group::path(&d.groups, b.group)
                .into_iter()
                .map(|g| d.groups[g].name.as_str())
                .collect();
            let mut expected: Vec<&str> = node.name.split('/').collect();
            assert_eq!(b.title, expected.pop().unwrap());
            assert_eq!(path, expected, "{}", node.name);
        }
        let arrows: usize = graph.nodes.iter().map(|n| n.inputs.len()).sum();
        assert_eq!(d.arrows.len(), arrows);
        assert!(d.arrows.iter().all(|a| a.from < a.to));
        assert!(
            d.arrows
                .iter()
                .any(|a| a.label.starts_with("String · bounded"))
        );
    }

    #[test]
    fn the_plan_shows_stages_and_the_exchange_of_a_lifted_combine() {
        let plan = ExecutionPlan::for_exchange(word_count(), true);
        let d = Diagram::of_plan(&plan, "timely");
        assert_eq!(d.boxes.len(), plan.stages.len());
        assert!(
            d.arrows
                .iter()
                .any(|a| a.label == "exchange by key (partial accumulators)"),
            "{:?}",
            d.arrows
        );
        assert!(
            d.boxes
                .iter()
                .any(|b| b.lines[0].starts_with("combined (lifted)"))
        );
    }

    #[test]
    fn rust_type_names_are_shortened() {
        assert_eq!(
            short_type("sluice_sdk::kv::KV<alloc::string::String, i64>"),
            "KV<String, i64>"
        );
    }
}

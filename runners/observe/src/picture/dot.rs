//! Diagrams in Graphviz's DOT language: each diagram a cluster, each group a cluster nested
//! in it, each box a node, each arrow an edge.

use super::{Diagram, Role};
use std::fmt::Write;

/// A string as a DOT quoted string.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The fill colour of a box.
pub fn fill(role: Role) -> &'static str {
    match role {
        Role::Source => "#dbeafe",
        Role::ElementWise => "#f1f5f9",
        Role::Keyed => "#fde68a",
        Role::View => "#e9d5ff",
        Role::Stage => "#dcfce7",
    }
}

/// `diagrams` as one DOT graph, side by side.
pub fn write(diagrams: &[Diagram]) -> String {
    let mut out = String::new();
    out.push_str("digraph sluice {\n");
    out.push_str("  rankdir=TB;\n  compound=true;\n");
    out.push_str(
        "  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\", fontsize=11];\n",
    );
    out.push_str("  edge [fontname=\"sans-serif\", fontsize=9, color=\"#475569\"];\n");
    for (k, d) in diagrams.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_d{k} {{");
        let _ = writeln!(out, "    label={};", quoted(&d.title));
        out.push_str("    style=dashed; color=\"#94a3b8\";\n");
        write_group(&mut out, d, k, None, 2);
        for a in &d.arrows {
            let _ = writeln!(
                out,
                "    d{k}_n{} -> d{k}_n{} [label={}{}];",
                a.from,
                a.to,
                quoted(&a.label),
                if a.dashed { ", style=dashed" } else { "" }
            );
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}

/// The boxes directly in `group` (the diagram's top level when `None`) and its inner groups
/// as clusters.
fn write_group(out: &mut String, d: &Diagram, k: usize, group: Option<usize>, indent: usize) {
    let pad = "  ".repeat(indent);
    for (i, b) in d.boxes.iter().enumerate() {
        if b.group == group {
            let mut label = b.title.clone();
            for line in &b.lines {
                label.push('\n');
                label.push_str(line);
            }
            let _ = writeln!(
                out,
                "{pad}d{k}_n{i} [label={}, fillcolor=\"{}\"];",
                quoted(&label),
                fill(b.role)
            );
        }
    }
    for (g, info) in d.groups.iter().enumerate() {
        if info.parent == group {
            let _ = writeln!(out, "{pad}subgraph cluster_d{k}_g{g} {{");
            let _ = writeln!(out, "{pad}  label={};", quoted(&info.name));
            let _ = writeln!(out, "{pad}  style=\"rounded\"; color=\"#cbd5e1\";");
            write_group(out, d, k, Some(g), indent + 1);
            let _ = writeln!(out, "{pad}}}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_escaped() {
        assert_eq!(quoted("a \"b\"\\c\nd"), "\"a \\\"b\\\"\\\\c\\nd\"");
    }
}

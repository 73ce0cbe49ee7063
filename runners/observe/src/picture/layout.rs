//! A layered layout for a [`Diagram`], so that the SVG writer needs no Graphviz.
//!
//! **Layers** go from top to bottom: a box sits one layer below the lowest box with an arrow
//! into it (the longest path from a box without inputs), then as far down as the boxes it
//! feeds allow, so that arrows stay short (a composite's own source sits just above what
//! reads it). **Columns** keep groups apart: every group (a composite transform) gets a
//! vertical band of its own, as wide as its widest layer, inside its parent's band; the boxes
//! directly in a group share one band beside its inner groups' bands; bands go left to right
//! in the order the pipeline applied their first transform. Within a band each layer is
//! centred. A group is drawn as the rectangle around its boxes, so sibling groups never
//! overlap.

use super::{Diagram, Group};

/// Width of one character of a box's text, in pixels (a sans-serif font at 12 px).
pub const CHAR_WIDTH: f64 = 7.0;
/// Height of one line of a box's text.
pub const LINE_HEIGHT: f64 = 16.0;
/// Space between boxes of one layer.
const GAP_X: f64 = 40.0;
/// Space between layers (room for an arrow's label).
const GAP_Y: f64 = 48.0;
/// Padding around a box's text.
const PAD: f64 = 10.0;
/// Padding of a group around what it holds, per level.
pub const GROUP_PAD: f64 = 12.0;

/// Where a box is drawn: its top-left corner and its size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    /// The rectangle around both.
    fn union(&self, other: &Rect) -> Rect {
        let (x, y) = (self.x.min(other.x), self.y.min(other.y));
        let right = (self.x + self.w).max(other.x + other.w);
        let bottom = (self.y + self.h).max(other.y + other.h);
        Rect {
            x,
            y,
            w: right - x,
            h: bottom - y,
        }
    }

    /// Grown by `by` on every side.
    fn grown(&self, by: f64) -> Rect {
        Rect {
            x: self.x - by,
            y: self.y - by,
            w: self.w + 2.0 * by,
            h: self.h + 2.0 * by,
        }
    }
}

/// A diagram laid out.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Per box, where it is drawn.
    pub boxes: Vec<Rect>,
    /// Per group, the rectangle around its boxes (`None` for a group without boxes).
    pub groups: Vec<Option<Rect>>,
    /// The size of the whole drawing.
    pub width: f64,
    /// The height of the whole drawing.
    pub height: f64,
}

/// The size of a box showing `lines`.
fn box_size(lines: usize, longest: usize) -> (f64, f64) {
    (
        (longest as f64 * CHAR_WIDTH + 2.0 * PAD).max(80.0),
        lines as f64 * LINE_HEIGHT + 2.0 * PAD,
    )
}

/// The layer of every box: the longest path from a box without arrows in, then each box
/// moved down to just above the highest box it feeds.
fn layers(d: &Diagram) -> Vec<usize> {
    let n = d.boxes.len();
    let mut layer = vec![0usize; n];
    let relax = |layer: &mut Vec<usize>| {
        let mut changed = false;
        for a in &d.arrows {
            if a.from != a.to && layer[a.to] < layer[a.from] + 1 {
                layer[a.to] = layer[a.from] + 1;
                changed = true;
            }
        }
        changed
    };
    for _ in 0..n {
        if !relax(&mut layer) {
            break;
        }
    }
    // Boxes are in an order where arrows go forward: from the last to the first, each box
    // moves down to just above the highest box it feeds.
    for b in (0..n).rev() {
        let below = d
            .arrows
            .iter()
            .filter(|a| a.from == b && a.to != b)
            .map(|a| layer[a.to])
            .min();
        if let Some(below) = below
            && below > layer[b] + 1
        {
            layer[b] = below - 1;
        }
    }
    layer
}

/// A band of columns: the horizontal offset of each box it holds, and its width.
struct Band {
    /// `(box, x offset within the band)`.
    boxes: Vec<(usize, f64)>,
    width: f64,
}

/// The band of `group` (the diagram's top level when `None`): a band for the boxes directly
/// in it and one per inner group, side by side.
fn band(d: &Diagram, group: Option<usize>, layer: &[usize], sizes: &[(f64, f64)]) -> Band {
    // The units: the boxes directly in the group (one unit), and each inner group; in the
    // order of their first box.
    let direct: Vec<usize> = (0..d.boxes.len())
        .filter(|&b| d.boxes[b].group == group)
        .collect();
    let mut units: Vec<(usize, Band)> = Vec::new();
    if !direct.is_empty() {
        let mut rows: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for &b in &direct {
            rows.entry(layer[b]).or_default().push(b);
        }
        let row_width = |row: &Vec<usize>| {
            row.iter().map(|&b| sizes[b].0).sum::<f64>()
                + GAP_X * row.len().saturating_sub(1) as f64
        };
        let width = rows.values().map(row_width).fold(0.0, f64::max);
        let mut boxes = Vec::new();
        for row in rows.values() {
            let mut x = (width - row_width(row)) / 2.0;
            for &b in row {
                boxes.push((b, x));
                x += sizes[b].0 + GAP_X;
            }
        }
        units.push((direct[0], Band { boxes, width }));
    }
    for (g, info) in d.groups.iter().enumerate() {
        if info.parent != group {
            continue;
        }
        let inner = band(d, Some(g), layer, sizes);
        let Some(first) = inner.boxes.iter().map(|(b, _)| *b).min() else {
            continue;
        };
        let boxes = inner
            .boxes
            .into_iter()
            .map(|(b, x)| (b, x + GROUP_PAD))
            .collect();
        units.push((
            first,
            Band {
                boxes,
                width: inner.width + 2.0 * GROUP_PAD,
            },
        ));
    }
    units.sort_by_key(|(first, _)| *first);
    let mut all = Vec::new();
    let mut x = 0.0;
    for (i, (_, unit)) in units.into_iter().enumerate() {
        if i > 0 {
            x += GAP_X / 2.0;
        }
        all.extend(unit.boxes.into_iter().map(|(b, bx)| (b, bx + x)));
        x += unit.width;
    }
    Band {
        boxes: all,
        width: x,
    }
}

/// Lays `d` out.
pub fn lay_out(d: &Diagram) -> Layout {
    let n = d.boxes.len();
    let layer = layers(d);
    let layers = layer.iter().max().map_or(0, |m| m + 1);
    let sizes: Vec<(f64, f64)> = d
        .boxes
        .iter()
        .map(|b| {
            let longest = std::iter::once(&b.title)
                .chain(&b.lines)
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(0);
            box_size(1 + b.lines.len(), longest)
        })
        .collect();
    let depth = d
        .groups
        .iter()
        .enumerate()
        .map(|(g, _)| Group::path(&d.groups, Some(g)).len())
        .max()
        .unwrap_or(0) as f64;
    let margin = 20.0 + depth * GROUP_PAD + LINE_HEIGHT;
    // Rows: each layer as tall as its tallest box, with room between for groups' edges and
    // names and for arrows' labels.
    let mut top = vec![0.0; layers];
    let mut y = margin;
    for (l, t) in top.iter_mut().enumerate() {
        *t = y;
        let tallest = (0..n)
            .filter(|&b| layer[b] == l)
            .map(|b| sizes[b].1)
            .fold(0.0, f64::max);
        y += tallest + GAP_Y + depth * (GROUP_PAD + LINE_HEIGHT);
    }
    let mut boxes = vec![
        Rect {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        n
    ];
    for (b, x) in band(d, None, &layer, &sizes).boxes {
        let (w, h) = sizes[b];
        boxes[b] = Rect {
            x: margin + x,
            y: top[layer[b]],
            w,
            h,
        };
    }
    // Groups: around their boxes and the groups inside them, innermost first.
    let mut groups: Vec<Option<Rect>> = vec![None; d.groups.len()];
    let mut order: Vec<usize> = (0..d.groups.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(Group::path(&d.groups, Some(g)).len()));
    for g in order {
        let mut around: Option<Rect> = None;
        for (b, info) in d.boxes.iter().enumerate() {
            if info.group == Some(g) {
                around = Some(around.map_or(boxes[b], |r| r.union(&boxes[b])));
            }
        }
        for (inner, info) in d.groups.iter().enumerate() {
            if info.parent == Some(g)
                && let Some(r) = groups[inner]
            {
                around = Some(around.map_or(r, |a| a.union(&r)));
            }
        }
        groups[g] = around.map(|r| {
            let mut r = r.grown(GROUP_PAD);
            // Room for the group's name above what it holds.
            r.y -= LINE_HEIGHT;
            r.h += LINE_HEIGHT;
            r
        });
    }
    let right = boxes
        .iter()
        .chain(groups.iter().flatten())
        .map(|r| r.x + r.w)
        .fold(0.0, f64::max);
    let bottom = boxes
        .iter()
        .chain(groups.iter().flatten())
        .map(|r| r.y + r.h)
        .fold(0.0, f64::max);
    Layout {
        boxes,
        groups,
        width: right + 20.0,
        height: bottom + 20.0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Arrow, DiagramBox, Role};
    use super::*;

    fn boxed(title: &str, group: Option<usize>) -> DiagramBox {
        DiagramBox {
            title: title.into(),
            lines: vec!["ParDo".into()],
            group,
            role: Role::ElementWise,
        }
    }

    fn arrow(from: usize, to: usize) -> Arrow {
        Arrow {
            from,
            to,
            label: String::new(),
            dashed: false,
        }
    }

    fn overlap(a: &Rect, b: &Rect) -> bool {
        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
    }

    #[test]
    fn arrows_point_down_boxes_never_overlap_and_groups_hold_their_boxes() {
        // a → b → d, a → c → d, with b and c in group 0.
        let d = Diagram {
            title: "t".into(),
            boxes: vec![
                boxed("a", None),
                boxed("b", Some(0)),
                boxed("c", Some(0)),
                boxed("d", None),
            ],
            arrows: vec![arrow(0, 1), arrow(0, 2), arrow(1, 3), arrow(2, 3)],
            groups: vec![Group {
                name: "G".into(),
                parent: None,
            }],
        };
        let l = lay_out(&d);
        for a in &d.arrows {
            assert!(l.boxes[a.from].y + l.boxes[a.from].h < l.boxes[a.to].y);
        }
        for i in 0..4 {
            for j in i + 1..4 {
                assert!(!overlap(&l.boxes[i], &l.boxes[j]), "{i} and {j}");
            }
        }
        let g = l.groups[0].expect("a group with boxes");
        for b in [1, 2] {
            let r = l.boxes[b];
            assert!(g.x < r.x && g.y < r.y && r.x + r.w < g.x + g.w && r.y + r.h < g.y + g.h);
        }
        assert!(l.width >= g.x + g.w && l.height >= l.boxes[3].y + l.boxes[3].h);
    }
}

//! Diagrams drawn as SVG, side by side, with the layered layout of [`super::layout`].
//!
//! Every box is a `<g class="box">` with the id `d{diagram}-n{box}`, so that a page showing
//! the drawing can find a transform's box and write next to it.

use super::dot::fill;
use super::layout::{CHAR_WIDTH, LINE_HEIGHT, Layout, Rect, lay_out};
use super::{Diagram, Group};
use std::fmt::Write;

/// Space between two diagrams.
const BETWEEN: f64 = 40.0;

/// Text with XML's special characters escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `diagrams` drawn side by side, as a standalone SVG document.
pub fn write(diagrams: &[Diagram]) -> String {
    let layouts: Vec<Layout> = diagrams.iter().map(lay_out).collect();
    let title_h = 28.0;
    let width = layouts.iter().map(|l| l.width).sum::<f64>()
        + BETWEEN * layouts.len().saturating_sub(1) as f64;
    let height = layouts.iter().map(|l| l.height).fold(0.0, f64::max) + title_h;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    out.push_str(concat!(
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">"#,
        r##"<path d="M 0 0 L 10 5 L 0 10 z" fill="#475569"/></marker></defs>"##,
        "\n"
    ));
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="#ffffff"/>"##
    );
    let mut x0 = 0.0;
    for (k, (d, l)) in diagrams.iter().zip(&layouts).enumerate() {
        let _ = writeln!(
            out,
            r#"<g class="diagram" id="d{k}" transform="translate({x0:.1},{title_h:.1})">"#
        );
        let _ = writeln!(
            out,
            r##"<text x="20" y="-8" font-size="15" font-weight="bold" fill="#0f172a">{}</text>"##,
            escape(&d.title)
        );
        draw_groups(&mut out, d, l);
        draw_arrows(&mut out, d, l);
        draw_boxes(&mut out, d, l, k);
        out.push_str("</g>\n");
        x0 += l.width + BETWEEN;
    }
    out.push_str("</svg>\n");
    out
}

/// The groups, outermost first, each with its name at its top-left corner.
fn draw_groups(out: &mut String, d: &Diagram, l: &Layout) {
    let mut order: Vec<usize> = (0..d.groups.len()).collect();
    order.sort_by_key(|&g| Group::path(&d.groups, Some(g)).len());
    for g in order {
        let Some(r) = l.groups[g] else { continue };
        let _ = writeln!(
            out,
            r##"<g class="group"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="8" fill="#f8fafc" fill-opacity="0.6" stroke="#cbd5e1"/><text x="{:.1}" y="{:.1}" fill="#64748b" font-size="11">{}</text></g>"##,
            r.x,
            r.y,
            r.w,
            r.h,
            r.x + 8.0,
            r.y + 14.0,
            escape(&d.groups[g].name)
        );
    }
}

/// The arrows, as curves from the bottom of one box to the top of the next. Labels go just
/// below the box an arrow leaves, once per distinct label (a PCollection read by several
/// transforms is described once), stacked when a box sends several.
fn draw_arrows(out: &mut String, d: &Diagram, l: &Layout) {
    for a in &d.arrows {
        let (from, to): (&Rect, &Rect) = (&l.boxes[a.from], &l.boxes[a.to]);
        let (x1, y1) = (from.x + from.w / 2.0, from.y + from.h);
        let (x2, y2) = (to.x + to.w / 2.0, to.y);
        let bend = ((y2 - y1) / 2.0).max(20.0);
        let _ = writeln!(
            out,
            r##"<path d="M {x1:.1} {y1:.1} C {x1:.1} {:.1}, {x2:.1} {:.1}, {x2:.1} {y2:.1}" fill="none" stroke="#475569" stroke-width="1.2"{} marker-end="url(#arrow)"/>"##,
            y1 + bend,
            y2 - bend,
            if a.dashed {
                r#" stroke-dasharray="5 4""#
            } else {
                ""
            }
        );
    }
    for (b, r) in l.boxes.iter().enumerate() {
        let mut labels: Vec<&str> = Vec::new();
        for a in d
            .arrows
            .iter()
            .filter(|a| a.from == b && !a.label.is_empty())
        {
            if !labels.contains(&a.label.as_str()) {
                labels.push(&a.label);
            }
        }
        for (i, label) in labels.into_iter().enumerate() {
            let (x, y) = (r.x + r.w / 2.0 + 6.0, r.y + r.h + 14.0 + 13.0 * i as f64);
            let w = label.chars().count() as f64 * CHAR_WIDTH * 0.82 + 6.0;
            let _ = writeln!(
                out,
                r##"<g class="label"><rect x="{:.1}" y="{:.1}" width="{w:.1}" height="13" fill="#ffffff" fill-opacity="0.85"/><text x="{x:.1}" y="{y:.1}" font-size="10" fill="#334155">{}</text></g>"##,
                x - 3.0,
                y - 10.0,
                escape(label)
            );
        }
    }
}

/// The boxes: a rounded rectangle, its title in bold and its lines below.
fn draw_boxes(out: &mut String, d: &Diagram, l: &Layout, k: usize) {
    for (i, (b, r)) in d.boxes.iter().zip(&l.boxes).enumerate() {
        let _ = writeln!(
            out,
            r##"<g class="box" id="d{k}-n{i}"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="6" fill="{}" stroke="#64748b"/>"##,
            r.x,
            r.y,
            r.w,
            r.h,
            fill(b.role)
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-weight="bold" fill="#0f172a">{}</text>"##,
            r.x + 10.0,
            r.y + 10.0 + LINE_HEIGHT * 0.8,
            escape(&b.title)
        );
        for (j, line) in b.lines.iter().enumerate() {
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" fill="#334155">{}</text>"##,
                r.x + 10.0,
                r.y + 10.0 + LINE_HEIGHT * (j as f64 + 1.8),
                escape(line)
            );
        }
        out.push_str("</g>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(
            escape("KV<a & 'b'>\""),
            "KV&lt;a &amp; &apos;b&apos;&gt;&quot;"
        );
    }
}

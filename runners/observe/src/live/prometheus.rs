//! A snapshot in the Prometheus text format (OpenMetrics), written by the
//! `prometheus-client` crate: a family per figure, labelled by transform.
//!
//! | family | what |
//! |---|---|
//! | `sluice_elements_in_total`, `sluice_elements_out_total` | elements into / out of a transform |
//! | `sluice_bytes_in_total`, `sluice_bytes_out_total` | the same in estimated bytes |
//! | `sluice_elements_out_per_second` | output rate over the last seconds |
//! | `sluice_source_records_total` | records a source read |
//! | `sluice_watermark_seconds`, `sluice_watermark_lag_seconds` | a source's or grouping's output watermark, and its lag behind the wall clock (streaming runs only: a bounded run has no watermark to show) |
//! | `sluice_open_windows`, `sluice_state_bytes` | a grouping's open windows ((key, window) pairs holding state) and their state's estimated size (streaming runs only) |
//! | `sluice_dropped_late_total`, `sluice_dropped_closed_window_total` | records a grouping or stateful ParDo dropped because their window had expired (Beam's `droppedDueToLateness`, Flink's `numLateRecordsDropped`) or its trigger had finished (streaming runs only) |
//! | `sluice_user_counter`, `sluice_user_gauge`, `sluice_user_distribution_{sum,count,min,max}` | what DoFns reported (a gauge for counters too: a Beam counter takes increments of either sign, and a Prometheus counter may not go down) |
//! | `sluice_uptime_seconds` | how long the run has lasted |

use super::Snapshot;
use super::history::{Rates, is_source};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Labels of one series.
type Labels = Vec<(String, String)>;

/// A label value escaped as the text format wants it (`\`, `"` and line feeds): the crate
/// writes label values as they are given.
fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A float gauge.
type FloatGauge = Gauge<f64, AtomicU64>;

/// `snapshot` (with the `rates` of its transforms) as a Prometheus text exposition.
pub fn render(snapshot: &Snapshot, rates: &[Rates]) -> String {
    let mut registry = Registry::default();
    let counter = |registry: &mut Registry, name: &str, help: &str| {
        let family = Family::<Labels, Counter>::default();
        registry.register(name, help, family.clone());
        family
    };
    let gauge = |registry: &mut Registry, name: &str, help: &str| {
        let family = Family::<Labels, FloatGauge>::default();
        registry.register(name, help, family.clone());
        family
    };
    let elements_in = counter(
        &mut registry,
        "sluice_elements_in",
        "Elements into a transform",
    );
    let elements_out = counter(
        &mut registry,
        "sluice_elements_out",
        "Elements out of a transform",
    );
    let bytes_in = counter(
        &mut registry,
        "sluice_bytes_in",
        "Estimated bytes into a transform",
    );
    let bytes_out = counter(
        &mut registry,
        "sluice_bytes_out",
        "Estimated bytes out of a transform",
    );
    let out_rate = gauge(
        &mut registry,
        "sluice_elements_out_per_second",
        "Elements out of a transform per second, over the last seconds",
    );
    let records = counter(
        &mut registry,
        "sluice_source_records",
        "Records a source read",
    );
    let watermark = gauge(
        &mut registry,
        "sluice_watermark_seconds",
        "Output watermark of a source or grouping, in seconds since the epoch",
    );
    let lag = gauge(
        &mut registry,
        "sluice_watermark_lag_seconds",
        "How far a source's or grouping's watermark is behind the wall clock",
    );
    let open_windows = gauge(
        &mut registry,
        "sluice_open_windows",
        "Open windows of a grouping: (key, window) pairs holding state",
    );
    let state_bytes = gauge(
        &mut registry,
        "sluice_state_bytes",
        "Estimated encoded size of a grouping's state",
    );
    let dropped_late = counter(
        &mut registry,
        "sluice_dropped_late",
        "Records a grouping dropped because their window had expired (droppedDueToLateness)",
    );
    let dropped_closed = counter(
        &mut registry,
        "sluice_dropped_closed_window",
        "Records a grouping dropped because their window's trigger had finished",
    );
    for (i, t) in snapshot.transforms.iter().enumerate() {
        let labels: Labels = vec![
            ("transform".into(), escaped(&t.name)),
            ("kind".into(), escaped(&t.kind)),
        ];
        elements_in.get_or_create(&labels).inc_by(t.elements_in);
        elements_out.get_or_create(&labels).inc_by(t.elements_out);
        bytes_in.get_or_create(&labels).inc_by(t.bytes_in);
        bytes_out.get_or_create(&labels).inc_by(t.bytes_out);
        if let Some(r) = rates.get(i) {
            out_rate.get_or_create(&labels).set(r.elements_out);
        }
        if is_source(&t.kind) {
            records.get_or_create(&labels).inc_by(t.elements_out);
        }
        if let Some(w) = t.watermark_ms {
            watermark.get_or_create(&labels).set(w as f64 / 1000.0);
        }
        if let Some(l) = t.watermark_lag_ms {
            lag.get_or_create(&labels).set(l as f64 / 1000.0);
        }
        if let Some(n) = t.open_windows {
            open_windows.get_or_create(&labels).set(n as f64);
        }
        if let Some(n) = t.state_bytes {
            state_bytes.get_or_create(&labels).set(n as f64);
        }
        if let Some(n) = t.dropped_late {
            dropped_late.get_or_create(&labels).inc_by(n.max(0) as u64);
        }
        if let Some(n) = t.dropped_closed_window {
            dropped_closed
                .get_or_create(&labels)
                .inc_by(n.max(0) as u64);
        }
    }
    let user_counter = gauge(
        &mut registry,
        "sluice_user_counter",
        "A counter a DoFn reported (it may go down: counters take increments of either sign)",
    );
    let user_gauge = gauge(
        &mut registry,
        "sluice_user_gauge",
        "A gauge a DoFn reported",
    );
    let dist = |registry: &mut Registry, part: &str| {
        gauge(
            registry,
            &format!("sluice_user_distribution_{part}"),
            &format!("The {part} of a distribution a DoFn reported"),
        )
    };
    let (d_sum, d_count, d_min, d_max) = (
        dist(&mut registry, "sum"),
        dist(&mut registry, "count"),
        dist(&mut registry, "min"),
        dist(&mut registry, "max"),
    );
    for (transform, metrics) in snapshot.user.per_transform() {
        let labels = |name: &str| -> Labels {
            vec![
                ("transform".into(), escaped(transform)),
                ("name".into(), escaped(name)),
            ]
        };
        for (name, v) in metrics.counters() {
            user_counter.get_or_create(&labels(name)).set(*v as f64);
        }
        for (name, g) in metrics.gauges() {
            user_gauge.get_or_create(&labels(name)).set(g.value as f64);
        }
        for (name, d) in metrics.distributions() {
            d_sum.get_or_create(&labels(name)).set(d.sum as f64);
            d_count.get_or_create(&labels(name)).set(d.count as f64);
            d_min.get_or_create(&labels(name)).set(d.min as f64);
            d_max.get_or_create(&labels(name)).set(d.max as f64);
        }
    }
    let uptime = FloatGauge::default();
    uptime.set(snapshot.elapsed_s);
    registry.register(
        "sluice_uptime_seconds",
        "How long the run has lasted",
        uptime,
    );
    let mut out = String::new();
    encode(&mut out, &registry).expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::super::TransformStats;
    use super::*;
    use sluice_sdk::metrics::{MetricResults, MetricsContainer};

    #[test]
    fn every_figure_is_a_series_labelled_by_transform() {
        let mut user = MetricsContainer::default();
        user.counter("parsed").inc_by(42);
        let mut results = MetricResults::default();
        results.add("Parse", &user);
        let snapshot = Snapshot {
            elapsed_s: 3.5,
            at_ms: 0,
            transforms: vec![
                TransformStats {
                    name: "Read".into(),
                    kind: "ReadUnbounded".into(),
                    elements_out: 10,
                    bytes_out: 100,
                    watermark_ms: Some(5_000),
                    watermark_lag_ms: Some(1_500),
                    ..TransformStats::default()
                },
                TransformStats {
                    name: "Parse \"x\"".into(),
                    kind: "ParDo".into(),
                    elements_in: 10,
                    elements_out: 9,
                    ..TransformStats::default()
                },
            ],
            user: results,
        };
        let rates = vec![
            Rates {
                elements_out: 2.5,
                ..Rates::default()
            },
            Rates::default(),
        ];
        let text = render(&snapshot, &rates);
        for line in [
            r#"sluice_elements_out_total{transform="Read",kind="ReadUnbounded"} 10"#,
            r#"sluice_source_records_total{transform="Read",kind="ReadUnbounded"} 10"#,
            r#"sluice_elements_in_total{transform="Parse \"x\"",kind="ParDo"} 10"#,
            r#"sluice_elements_out_per_second{transform="Read",kind="ReadUnbounded"} 2.5"#,
            r#"sluice_watermark_lag_seconds{transform="Read",kind="ReadUnbounded"} 1.5"#,
            r#"sluice_user_counter{transform="Parse",name="parsed"} 42.0"#,
            "sluice_uptime_seconds 3.5",
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} is missing from:\n{text}"
            );
        }
    }

    #[test]
    fn every_family_the_docs_name_is_rendered() {
        let mut user = MetricsContainer::default();
        user.counter("parsed").inc_by(1);
        user.gauge("level").set(3);
        user.distribution("size").update(7);
        let mut results = MetricResults::default();
        results.add("Parse", &user);
        let snapshot = Snapshot {
            elapsed_s: 1.0,
            at_ms: 0,
            transforms: vec![TransformStats {
                name: "Group".into(),
                kind: "GroupByKey".into(),
                elements_in: 1,
                elements_out: 1,
                bytes_in: 8,
                bytes_out: 8,
                watermark_ms: Some(1_000),
                watermark_lag_ms: Some(1_000),
                open_windows: Some(2),
                state_bytes: Some(64),
                dropped_late: Some(3),
                dropped_closed_window: Some(0),
            }],
            user: results,
        };
        let source = TransformStats {
            name: "Read".into(),
            kind: "ReadUnbounded".into(),
            elements_out: 1,
            ..TransformStats::default()
        };
        let snapshot = Snapshot {
            transforms: vec![source, snapshot.transforms[0].clone()],
            ..snapshot
        };
        let text = render(&snapshot, &[Rates::default(), Rates::default()]);
        // The families in this module's table, `a_{b,c}` standing for `a_b` and `a_c`.
        let doc = include_str!("prometheus.rs");
        let mut named = Vec::new();
        for row in doc.lines().filter(|l| l.starts_with("//! | `sluice_")) {
            let cell = row.split('|').nth(1).unwrap();
            for family in cell.split('`').skip(1).step_by(2) {
                match family.split_once('{') {
                    Some((stem, rest)) => named.extend(
                        rest.trim_end_matches('}')
                            .split(',')
                            .map(|end| format!("{stem}{end}")),
                    ),
                    None => named.push(family.to_string()),
                }
            }
        }
        assert!(named.len() >= 15, "{named:?}");
        for family in named {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{family}{{"))
                    || l.starts_with(&format!("{family} "))),
                "{family} is named in the docs but not rendered:\n{text}"
            );
        }
    }
}

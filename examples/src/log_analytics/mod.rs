//! Log analytics: web server access logs → per path, over a sliding window, request counts by
//! status class, the 5xx rate and latency percentiles; the busiest paths of each window; and
//! an alert when a path's 5xx rate crosses a threshold.
//!
//! - [`access_log`]: the Common and Combined Log Formats (with an optional request time).
//! - [`stats`]: per-path statistics as one combine; [`latency`]: mergeable percentiles.
//! - [`alerts`]: crossings of the 5xx threshold, per path, in event-time order.
//! - [`generator`]: realistic logs (incidents, disorder, malformed lines) for tests and
//!   benchmarks.
//!
//! The statistics are a Combine over sliding windows (5 min every 10 s by default), so each
//! request is accumulated once, in its 10 s slice, and a window merges its 30 slices (see
//! `sluice_sdk::window::slices`). Outputs are lines:
//!
//! | output | line |
//! |---|---|
//! | statistics | `window_start_ms,window_end_ms,path,requests,2xx,3xx,4xx,5xx,error_rate,p50_ms,p95_ms,p99_ms` |
//! | top paths | `window_start_ms,window_end_ms,rank,path,requests` (the 10 busiest) |
//! | alerts | `window_start_ms,window_end_ms,path,firing\|resolved,error_rate,requests` |

pub mod access_log;
pub mod alerts;
pub mod generator;
pub mod latency;
pub mod stats;

pub use access_log::{AccessLogLines, Request, parse_line};
pub use alerts::{Alert, AlertRule};
pub use stats::{PathStats, PathStatsFn};

use crate::job_io::csv_field;
use sluice_sdk::prelude::*;

/// How the job aggregates.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The windows' size.
    pub window: Duration,
    /// How often a window starts.
    pub every: Duration,
    /// How late a request may be logged and still count.
    pub allowed_lateness: Duration,
    /// How many of the busiest paths each window lists.
    pub top: usize,
    /// When a path alerts.
    pub rule: AlertRule,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window: Duration::from_mins(5),
            every: Duration::from_secs(10),
            allowed_lateness: Duration::ZERO,
            top: 10,
            rule: AlertRule::default(),
        }
    }
}

/// The job's three results, as lines.
pub struct Analysis {
    /// Per path and window.
    pub stats: PCollection<String>,
    /// The busiest paths of each window.
    pub top: PCollection<String>,
    /// Alerts firing and resolving.
    pub alerts: PCollection<String>,
}

/// A latency in µs as milliseconds with three decimals; empty when unknown.
fn millis(us: Option<u64>) -> String {
    us.map(|us| format!("{}.{:03}", us / 1000, us % 1000))
        .unwrap_or_default()
}

/// Analyses `requests`, each stamped with its time.
pub fn analyze(requests: &PCollection<Request>, settings: Settings) -> Analysis {
    let per_path = requests
        .apply(
            "Window",
            WindowInto::new(SlidingWindows::of(settings.window, settings.every))
                .with_allowed_lateness(settings.allowed_lateness),
        )
        .map("ByPath", |r: Request| {
            KV::new(r.path, (r.status, r.latency_us))
        })
        .apply("Stats", Combine::per_key(PathStatsFn))
        .apply(
            "WithWindow",
            MapWithContext::new(|kv: KV<String, PathStats>, m: &ElementMeta| {
                let w = m.window.as_interval().expect("sliding windows");
                KV::new(kv.key, (w.start.as_millis(), w.end.as_millis(), kv.value))
            }),
        );
    let stats = per_path.map("StatsLines", |kv: KV<String, alerts::WindowStats>| {
        let (start, end, s) = kv.value;
        let [p50, p95, p99] = s.latency_us.map(millis);
        let [c2, c3, c4, c5] = s.by_class;
        format!(
            "{start},{end},{},{},{c2},{c3},{c4},{c5},{:.4},{p50},{p95},{p99}",
            csv_field(&kv.key),
            s.requests,
            s.error_rate
        )
    });
    let top_n = settings.top;
    let top = per_path
        .map("Busy", |kv: KV<String, alerts::WindowStats>| {
            let (start, end, s) = kv.value;
            ((start, end), s.requests, kv.key)
        })
        .apply(
            "Top",
            Combine::globally(Top::largest(top_n)).without_defaults(),
        )
        .flat_map("TopLines", |top: Vec<((i64, i64), u64, String)>| {
            top.into_iter()
                .enumerate()
                .map(|(rank, ((start, end), requests, path))| {
                    format!("{start},{end},{},{},{requests}", rank + 1, csv_field(&path))
                })
                .collect::<Vec<_>>()
        });
    let alerts = alerts::alerts(&per_path, settings.rule).map("AlertLines", |a: Alert| {
        format!(
            "{},{},{},{},{:.4},{}",
            a.window_start,
            a.window_end,
            csv_field(&a.path),
            a.state,
            a.error_rate,
            a.requests
        )
    });
    Analysis { stats, top, alerts }
}

//! The last minutes of a run's live metrics: a snapshot a second, the rates between them,
//! and the figures the status page charts. A sampler thread fills it, and logs a summary
//! every `--log-metrics-interval`.

use super::{LiveMetrics, Snapshot};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the sampler takes a snapshot.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How many snapshots are kept: five minutes.
const KEEP: usize = 300;
/// Rates are measured over about this long.
const RATE_OVER: Duration = Duration::from_secs(5);

/// Per second, what one transform did over the last few seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Rates {
    /// Input elements per second.
    pub elements_in: f64,
    /// Output elements per second.
    pub elements_out: f64,
    /// Input bytes per second.
    pub bytes_in: f64,
    /// Output bytes per second.
    pub bytes_out: f64,
}

/// One point of the status page's charts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// When, in milliseconds since the epoch.
    pub at_ms: i64,
    /// Elements the sources read per second.
    pub throughput: f64,
    /// The largest watermark lag of any source or grouping, in milliseconds.
    pub watermark_lag_ms: Option<i64>,
}

/// The snapshots of the last minutes.
#[derive(Default)]
pub struct History {
    samples: VecDeque<Snapshot>,
}

/// What one transform did between two snapshots, per second.
fn rates_between(old: &Snapshot, new: &Snapshot) -> Vec<Rates> {
    let secs = (new.elapsed_s - old.elapsed_s).max(1e-3);
    new.transforms
        .iter()
        .zip(&old.transforms)
        .map(|(n, o)| Rates {
            elements_in: n.elements_in.saturating_sub(o.elements_in) as f64 / secs,
            elements_out: n.elements_out.saturating_sub(o.elements_out) as f64 / secs,
            bytes_in: n.bytes_in.saturating_sub(o.bytes_in) as f64 / secs,
            bytes_out: n.bytes_out.saturating_sub(o.bytes_out) as f64 / secs,
        })
        .collect()
}

/// Whether a transform of this kind reads a source.
pub fn is_source(kind: &str) -> bool {
    matches!(kind, "Read" | "ReadUnbounded" | "TestStream")
}

impl History {
    /// Adds a snapshot, forgetting the oldest beyond five minutes.
    pub fn push(&mut self, snapshot: Snapshot) {
        if self.samples.len() == KEEP {
            self.samples.pop_front();
        }
        self.samples.push_back(snapshot);
    }

    /// The latest snapshot.
    pub fn latest(&self) -> Option<&Snapshot> {
        self.samples.back()
    }

    /// Per transform, the rates over the last few seconds (zero before two snapshots).
    pub fn rates(&self) -> Vec<Rates> {
        let Some(new) = self.samples.back() else {
            return Vec::new();
        };
        let old = self
            .samples
            .iter()
            .rev()
            .find(|s| new.elapsed_s - s.elapsed_s >= RATE_OVER.as_secs_f64())
            .or_else(|| self.samples.front())
            .expect("not empty");
        if std::ptr::eq(old, new) {
            return vec![Rates::default(); new.transforms.len()];
        }
        rates_between(old, new)
    }

    /// Throughput and watermark lag, a point per snapshot.
    pub fn series(&self) -> Vec<Point> {
        let mut points = Vec::with_capacity(self.samples.len());
        let mut previous: Option<&Snapshot> = None;
        for s in &self.samples {
            let throughput = previous.map_or(0.0, |p| {
                rates_between(p, s)
                    .iter()
                    .zip(&s.transforms)
                    .filter(|(_, t)| is_source(&t.kind))
                    .map(|(r, _)| r.elements_out)
                    .sum()
            });
            points.push(Point {
                at_ms: s.at_ms,
                throughput,
                watermark_lag_ms: s.transforms.iter().filter_map(|t| t.watermark_lag_ms).max(),
            });
            previous = Some(s);
        }
        points
    }
}

/// A thread that fills a [`History`] while a run lasts, and logs every `log_every`.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    /// Samples `live` into `history` every second; logs a summary every `log_every` if given.
    pub fn start(
        live: LiveMetrics,
        history: Arc<Mutex<History>>,
        log_every: Option<Duration>,
    ) -> std::io::Result<Sampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("sluice-metrics".into())
            .spawn(move || {
                let mut last_log = Instant::now();
                let mut next = Instant::now();
                while !stopped.load(Ordering::Relaxed) {
                    if Instant::now() >= next {
                        next += SAMPLE_EVERY;
                        if let Some(s) = live.snapshot() {
                            let mut h = history.lock().unwrap_or_else(|e| e.into_inner());
                            h.push(s);
                            if log_every.is_some_and(|every| last_log.elapsed() >= every) {
                                last_log = Instant::now();
                                log(&h);
                            }
                        }
                    }
                    // Woken at once when the run ends (see `Drop`): a job's end does not
                    // wait out the nap.
                    std::thread::park_timeout(Duration::from_millis(50));
                }
                // A last summary, so that a short run logs what it did.
                if log_every.is_some()
                    && let Some(s) = live.snapshot()
                {
                    let mut h = history.lock().unwrap_or_else(|e| e.into_inner());
                    h.push(s);
                    log(&h);
                }
            })?;
        Ok(Sampler {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The `tracing` target of the lines `--log-metrics-interval` asks for (at INFO).
pub const METRICS_LOG_TARGET: &str = "sluice::metrics";

/// Logs one line per transform that did something: counts, rates, watermark lag.
fn log(history: &History) {
    let Some(s) = history.latest() else { return };
    let rates = history.rates();
    for (t, r) in s.transforms.iter().zip(&rates) {
        if t.elements_in == 0 && t.elements_out == 0 && t.watermark_ms.is_none() {
            continue;
        }
        tracing::info!(
            target: METRICS_LOG_TARGET,
            transform = %t.name,
            elements_in = t.elements_in,
            elements_out = t.elements_out,
            out_per_s = format!("{:.1}", r.elements_out),
            bytes_out = t.bytes_out,
            watermark_lag_ms = t.watermark_lag_ms,
            open_windows = t.open_windows,
            "live metrics"
        );
    }
    for (key, value) in s.user.counters() {
        tracing::info!(
            target: METRICS_LOG_TARGET,
            transform = %key.transform,
            counter = %key.name,
            value,
            "user counter"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::TransformStats;
    use super::*;

    fn snap(elapsed_s: f64, out: u64, lag: Option<i64>) -> Snapshot {
        Snapshot {
            elapsed_s,
            at_ms: (elapsed_s * 1000.0) as i64,
            transforms: vec![TransformStats {
                name: "Read".into(),
                kind: "ReadUnbounded".into(),
                elements_out: out,
                bytes_out: out * 10,
                watermark_lag_ms: lag,
                ..TransformStats::default()
            }],
            user: Default::default(),
        }
    }

    #[test]
    fn rates_are_measured_over_the_last_seconds_and_series_chart_sources() {
        let mut h = History::default();
        assert!(h.rates().is_empty());
        h.push(snap(0.0, 0, None));
        assert_eq!(h.rates()[0].elements_out, 0.0);
        for i in 1..=10 {
            h.push(snap(i as f64, i * 100, Some(2_000 - i as i64 * 100)));
        }
        // Over the last five seconds: 500 elements.
        let r = &h.rates()[0];
        assert!((r.elements_out - 100.0).abs() < 1e-9, "{r:?}");
        assert!((r.bytes_out - 1000.0).abs() < 1e-9, "{r:?}");
        let series = h.series();
        assert_eq!(series.len(), 11);
        assert_eq!(series[0].throughput, 0.0);
        assert!((series[5].throughput - 100.0).abs() < 1e-9);
        assert_eq!(series[10].watermark_lag_ms, Some(1_000));
    }
}

//! A generator of realistic access logs, for the tests and the benchmark.
//!
//! Requests arrive at a steady rate over paths of Zipf-distributed popularity (a few hot
//! pages, a long tail of API calls with ids), answered mostly 200 and 304, some 301 and 404,
//! rarely 500. Every so often a path has an **incident**: for a while half of its requests fail
//! with 502/503 and they are five times slower. Timestamps are **out of order** by up to a few
//! seconds (servers log when a request ends, and many servers' logs are merged), latencies
//! are long-tailed, and a few lines are **malformed** (cut short, garbled). Everything follows
//! from the seed.

use crate::civil_time::civil_from_days;
use crate::corpus::{SplitMix, Zipf};
use std::io::Write;

/// What to generate.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Lines to write.
    pub lines: u64,
    /// The seed.
    pub seed: u64,
    /// Requests per second.
    pub rate: u64,
    /// The first request's time, ms since the epoch.
    pub start_ms: i64,
    /// Distinct paths.
    pub paths: usize,
    /// An incident starts on average every this many seconds...
    pub incident_every_s: u64,
    /// ...and lasts this long.
    pub incident_s: u64,
    /// How far out of order a line may be, ms.
    pub disorder_ms: u64,
    /// One line in this many is malformed (0: none).
    pub malformed_every: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            lines: 100_000,
            seed: 1,
            rate: 1000,
            start_ms: 1_767_225_600_000, // 2026-01-01 00:00:00 UTC
            paths: 200,
            incident_every_s: 600,
            incident_s: 120,
            disorder_ms: 5000,
            malformed_every: 10_000,
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
];
const METHODS: [&str; 4] = ["GET", "GET", "GET", "POST"];

/// The paths: a few pages, then API calls.
fn path_names(n: usize) -> Vec<String> {
    let pages = [
        "/",
        "/login",
        "/static/app.js",
        "/static/style.css",
        "/search",
        "/cart",
    ];
    (0..n)
        .map(|i| match pages.get(i) {
            Some(p) => p.to_string(),
            None => format!("/api/v1/items/{}", 1000 + i),
        })
        .collect()
}

/// `[dd/Mon/yyyy:HH:mm:ss +0000]` of `ms`.
fn log_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, in_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (h, min, s) = (in_day / 3600, in_day / 60 % 60, in_day % 60);
    format!(
        "{d:02}/{}/{y}:{h:02}:{min:02}:{s:02} +0000",
        MONTHS[(m - 1) as usize]
    )
}

/// The incident, if any, of the `incident_every_s`-long period `period`: its path and start.
fn incident(config: &LogConfig, period: u64) -> Option<(usize, i64)> {
    let mut rng = SplitMix::new(config.seed ^ period.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (rng.below(3) != 0).then(|| {
        // Incidents hit the busier paths (whose windows have enough requests to judge).
        let path = rng.below(config.paths.min(20) as u64) as usize;
        let offset = rng.below(
            config
                .incident_every_s
                .saturating_sub(config.incident_s)
                .max(1),
        );
        let start = config.start_ms + ((period * config.incident_every_s + offset) * 1000) as i64;
        (path, start)
    })
}

/// Writes `config.lines` lines to `out`.
pub fn write_logs(config: &LogConfig, out: &mut impl Write) -> std::io::Result<()> {
    let paths = path_names(config.paths);
    let popularity = Zipf::new(config.paths, 1.1);
    let mut rng = SplitMix::new(config.seed);
    let step_us = 1_000_000 / config.rate.max(1);
    let mut line = String::with_capacity(256);
    for n in 0..config.lines {
        let now = config.start_ms + (n * step_us / 1000) as i64;
        let at = now - rng.below(config.disorder_ms.max(1)) as i64;
        let path = popularity.sample(&mut rng);
        let period = ((now - config.start_ms) / 1000) as u64 / config.incident_every_s.max(1);
        let in_incident = incident(config, period).is_some_and(|(p, start)| {
            p == path && (start..start + (config.incident_s * 1000) as i64).contains(&now)
        });
        let roll = rng.below(1000);
        let status = if in_incident && roll < 500 {
            [502, 503][(roll % 2) as usize]
        } else {
            match roll {
                0..850 => 200,
                850..910 => 304,
                910..930 => 301,
                930..998 => 404,
                _ => 500,
            }
        };
        // Long-tailed: about log-normal around a few ms, one request in a hundred ten times
        // slower, five times slower in an incident.
        let base_us = 2000.0 + (path % 7) as f64 * 3000.0;
        let normal = (rng.next_f64() + rng.next_f64() + rng.next_f64() - 1.5) * 2.0;
        let straggler = if rng.below(100) == 0 { 10.0 } else { 1.0 };
        let slow = if in_incident { 5.0 } else { 1.0 };
        let latency = (base_us * (0.8 * normal).exp() * straggler * slow) as u64;
        line.clear();
        use std::fmt::Write as _;
        let _ = write!(
            line,
            "10.{}.{}.{} - - [{}] \"{} {}{} HTTP/1.1\" {status} {} \"-\" \"{}\" {}.{:06}",
            rng.below(256),
            rng.below(256),
            rng.below(256),
            log_time(at),
            METHODS[rng.below(4) as usize],
            paths[path],
            if rng.below(10) == 0 { "?page=2" } else { "" },
            if status == 304 {
                0
            } else {
                200 + rng.below(20_000)
            },
            AGENTS[rng.below(AGENTS.len() as u64) as usize],
            latency / 1_000_000,
            latency % 1_000_000,
        );
        if config.malformed_every > 0 && rng.below(config.malformed_every) == 0 {
            // Cut short where a crashed writer would have stopped, before the request.
            let request = line.find('"').unwrap_or(line.len());
            let cut = rng.below(request as u64) as usize;
            line.truncate(cut);
        }
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes `config.lines` lines to the file `path`.
pub fn write_log_file(config: &LogConfig, path: &std::path::Path) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    write_logs(config, &mut out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::super::access_log::parse_line;
    use super::*;

    #[test]
    fn the_logs_parse_but_for_the_malformed_lines_and_hold_incidents() {
        let config = LogConfig {
            lines: 60_000,
            malformed_every: 1000,
            ..LogConfig::default()
        };
        let mut bytes = Vec::new();
        write_logs(&config, &mut bytes).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let (mut ok, mut bad, mut errors_5xx, mut out_of_order) = (0, 0, 0, 0);
        let mut latest = i64::MIN;
        for line in text.lines() {
            match parse_line(line) {
                Ok(r) => {
                    ok += 1;
                    errors_5xx += u64::from(r.status == 502 || r.status == 503);
                    out_of_order += u64::from(r.time_ms < latest);
                    latest = latest.max(r.time_ms);
                    assert!(r.latency_us.is_some());
                }
                Err(_) => bad += 1,
            }
        }
        assert_eq!(ok + bad, 60_000);
        assert!(
            (30..100).contains(&bad),
            "{bad} malformed lines of 60 000 at 1 in 1000"
        );
        assert!(
            errors_5xx > 100,
            "incidents show: {errors_5xx} 502/503 answers"
        );
        assert!(out_of_order > 10_000, "{out_of_order} lines out of order");
        let again = {
            let mut b = Vec::new();
            write_logs(&config, &mut b).unwrap();
            b
        };
        assert_eq!(again, text.as_bytes(), "the same seed, the same logs");
    }
}

//! Six small stateful DoFns, each beside the same DoFn in Beam Python
//! (`examples/beam/six_dofns.py`): what writing state and timers in Sluice costs.
//!
//! Each DoFn and its application lies between `// [name]` and `// [end]` here and between
//! `# [name]` and `# [end]` in the Python file, formatted by rustfmt and by black. Non-blank
//! lines, counted by this module's test (which also checks this table):
//!
//! | DoFn | Beam Python | Sluice | ratio |
//! |---|---|---|---|
//! | `running_index` | 7 | 7 | 1.00 |
//! | `buffer_until_window_end` | 17 | 13 | 0.76 |
//! | `moved_timer` | 17 | 14 | 0.82 |
//! | `group_into_batches` | 23 | 19 | 0.83 |
//! | `deduplicate` | 18 | 13 | 0.72 |
//! | `processing_time_timer` | 17 | 20 | 1.18 |
//!
//! `tests/tests/six_dofns.rs` runs them on the inputs of the Python file and expects what
//! Beam's FnApiRunner prints for it (copied into the test).

use sluice_sdk::prelude::*;

/// Numbers each user's clicks as they come: `(user, index, page)` from 0.
pub fn running_index(
    clicks: &PCollection<KV<String, String>>,
) -> PCollection<(String, u64, String)> {
    // [running_index]
    let indexed = clicks.apply(
        "Index",
        ParDo::stateful_map(|index: &mut u64, user: &String, page: String| {
            *index += 1;
            Some((user.clone(), *index - 1, page))
        }),
    );
    // [end]
    indexed
}

/// Each sensor's readings of a window, sorted, when the window ends.
pub fn buffer_until_window_end(
    readings: &PCollection<KV<String, i64>>,
) -> PCollection<(String, Vec<i64>)> {
    // [buffer_until_window_end]
    let flushed = readings.apply(
        "Flush",
        ParDo::with_state(|d| (d.bag("buffer"), d.timer("end", TimeDomain::EventTime)))
            .on_element(|(buffer, end), _sensor: &String, v: i64, ctx| {
                ctx.state(buffer).add(v);
                ctx.timer(end).set_at_window_end();
            })
            .on_timer(|(buffer, _), sensor, _timer, ctx| {
                let mut values = ctx.state(buffer).take();
                values.sort();
                ctx.output((sensor.clone(), values));
            }),
    );
    // [end]
    flushed
}

/// How many events each key had before it went quiet for 30 s of event time: a timer that
/// every element moves.
pub fn moved_timer(events: &PCollection<KV<String, i64>>) -> PCollection<(String, u64)> {
    // [moved_timer]
    let counted = events.apply(
        "CountUntilQuiet",
        ParDo::with_state(|d| (d.value("count"), d.timer("quiet", TimeDomain::EventTime)))
            .on_element(|(count, quiet), _key: &String, _v: i64, ctx| {
                let count = ctx.state(count);
                count.write(count.read_or(0) + 1);
                let at = ctx.timestamp() + Duration::from_secs(30);
                ctx.timer(quiet).set(at);
            })
            .on_timer(|(count, _), key, _timer, ctx| {
                let n = ctx.state(count).take().unwrap_or(0);
                ctx.output((key.clone(), n));
            }),
    );
    // [end]
    counted
}

/// Each key's values in batches of two as they come, the rest when the window ends (what
/// [`GroupIntoBatches`] does).
pub fn group_into_batches(items: &PCollection<KV<String, i64>>) -> PCollection<(String, Vec<i64>)> {
    // [group_into_batches]
    let batches = items.apply(
        "Batch",
        ParDo::with_state(|d| (d.bag("buffer"), d.timer("end", TimeDomain::EventTime)))
            .on_element(|(buffer, end), key: &String, v: i64, ctx| {
                ctx.timer(end).set_at_window_end();
                let buffer = ctx.state(buffer);
                buffer.add(v);
                if buffer.len() == 2 {
                    let batch = buffer.take();
                    ctx.output((key.clone(), batch));
                }
            })
            .on_timer(|(buffer, _), key, _timer, ctx| {
                let batch = ctx.state(buffer).take();
                if !batch.is_empty() {
                    ctx.output((key.clone(), batch));
                }
            }),
    );
    // [end]
    batches
}

/// The first login of each user, remembered for 60 s of event time (what [`Deduplicate`]
/// does).
pub fn deduplicate(logins: &PCollection<KV<String, String>>) -> PCollection<(String, String)> {
    // [deduplicate]
    let firsts = logins.apply(
        "Dedup",
        ParDo::with_state(|d| (d.value("seen"), d.timer("forget", TimeDomain::EventTime)))
            .on_element(|(seen, forget), user: &String, login: String, ctx| {
                if ctx.state(seen).read().is_none() {
                    ctx.state(seen).write(());
                    let at = ctx.timestamp() + Duration::from_secs(60);
                    ctx.timer(forget).set(at);
                    ctx.output((user.clone(), login));
                }
            })
            .on_timer(|(seen, _), _user, _timer, ctx| ctx.state(seen).clear()),
    );
    // [end]
    firsts
}

/// Each order's items, sorted, 10 s of processing time after its first (on bounded input, at
/// the end).
pub fn processing_time_timer(
    orders: &PCollection<KV<String, i64>>,
) -> PCollection<(String, Vec<i64>)> {
    // [processing_time_timer]
    let flushed_later = orders.apply(
        "FlushAfter10s",
        ParDo::with_state(|d| {
            (
                d.bag("buffer"),
                d.timer("flush", TimeDomain::ProcessingTime),
            )
        })
        .on_element(|(buffer, flush), _order: &String, v: i64, ctx| {
            if ctx.state(buffer).is_empty() {
                ctx.timer(flush).set_after(Duration::from_secs(10));
            }
            ctx.state(buffer).add(v);
        })
        .on_timer(|(buffer, _), order, _timer, ctx| {
            let mut values = ctx.state(buffer).take();
            values.sort();
            ctx.output((order.clone(), values));
        }),
    );
    // [end]
    flushed_later
}

#[cfg(test)]
mod tests {
    /// The non-blank lines of each region `[name]`..`[end]` marked with `comment`, by name.
    fn regions(text: &str, comment: &str) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut current: Option<(String, usize)> = None;
        for line in text.lines().map(str::trim) {
            let Some(marker) = line.strip_prefix(comment).map(str::trim) else {
                if let Some((_, n)) = current.as_mut().filter(|_| !line.is_empty()) {
                    *n += 1;
                }
                continue;
            };
            match marker.strip_prefix('[').and_then(|m| m.strip_suffix(']')) {
                Some("end") => out.extend(current.take()),
                Some(name) => current = Some((name.to_string(), 0)),
                None => {
                    if let Some((_, n)) = current.as_mut() {
                        *n += 1;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn each_sluice_dofn_takes_at_most_one_and_a_half_times_the_lines_of_beam_python() {
        let sluice = regions(include_str!("six_dofns.rs"), "//");
        let beam = regions(include_str!("../beam/six_dofns.py"), "#");
        assert_eq!(
            sluice.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            beam.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "the same six, in the same order"
        );
        assert_eq!(sluice.len(), 6);
        let docs = include_str!("six_dofns.rs");
        for ((name, ours), (_, theirs)) in sluice.iter().zip(&beam) {
            let ratio = *ours as f64 / *theirs as f64;
            assert!(ratio <= 1.5, "{name}: {ours} lines against Beam's {theirs}");
            let row = format!("| `{name}` | {theirs} | {ours} | {ratio:.2} |");
            assert!(docs.contains(&row), "the table lacks the row {row}");
        }
    }
}

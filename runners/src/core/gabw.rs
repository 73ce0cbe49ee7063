//! GroupAlsoByWindow: grouping per key *and window*, and deciding when each group is emitted.
//!
//! Every runner shuffles keyed records so that all records of a key meet in one place, then
//! feeds them here. For each (key, window) this keeps the buffered values or the accumulator
//! (a [`GroupState`] from the transform's kernel), the pane counters, and the output
//! timestamp the next pane will carry. It receives records and input-watermark advances and
//! emits panes:
//!
//! - **on time**: when the watermark passes a window's maximum timestamp, the window fires an
//!   `OnTime` pane (even an empty one, in discarding mode after earlier panes);
//! - **late**: a record for a window the watermark has passed but that has not expired fires a
//!   `Late` pane at once (the default trigger fires for every late element);
//! - **expiry**: once the watermark passes `max_timestamp + allowed_lateness` (capped at the
//!   end of the global window, as Beam does), the window's state is dropped; if it still holds
//!   unfired data a last pane fires first. A record for an expired window is dropped and counted.
//!
//! Merging window functions (sessions) merge the windows of a key as records arrive; the
//! merged window takes over the state of the windows it replaced.
//!
//! On bounded input the watermark jumps once from the minimum to the maximum, so every
//! (key, window) emits exactly one pane, on time and final.

use rustc_hash::FxHashMap;
use sluice_sdk::element::EncodedKey;
use sluice_sdk::error::BoxError;
use sluice_sdk::graph::kernel::{GroupKernel, GroupState, KeyedRecord, PaneOutput, RecordKind};
use sluice_sdk::pane::{PaneInfo, PaneTiming};
use sluice_sdk::time::Timestamp;
use sluice_sdk::trigger::{AccumulationMode, TimestampCombiner};
use sluice_sdk::window::Window;
use sluice_sdk::windowing::WindowingStrategy;
use std::sync::Arc;

/// The state of one (key, window).
struct WindowState {
    state: Box<dyn GroupState>,
    /// Combined timestamp of the records since the last pane (EARLIEST / LATEST).
    pending_timestamp: Option<Timestamp>,
    /// Whether records arrived since the last pane.
    has_new_data: bool,
    on_time_fired: bool,
    pane_index: u64,
    non_speculative_index: i64,
}

/// GroupAlsoByWindow for one grouping transform (all keys of one shard).
pub struct GroupAlsoByWindow {
    kernel: Arc<dyn GroupKernel>,
    strategy: WindowingStrategy,
    keys: FxHashMap<EncodedKey, FxHashMap<Window, WindowState>>,
    input_watermark: Timestamp,
    dropped_late: u64,
    late_pending: Vec<(EncodedKey, Window)>,
}

impl GroupAlsoByWindow {
    /// A new, empty grouping with the input's windowing strategy.
    pub fn new(kernel: Arc<dyn GroupKernel>, strategy: WindowingStrategy) -> Self {
        GroupAlsoByWindow {
            kernel,
            strategy,
            keys: FxHashMap::default(),
            input_watermark: Timestamp::MIN,
            dropped_late: 0,
            late_pending: Vec::new(),
        }
    }

    /// The current input watermark.
    pub fn input_watermark(&self) -> Timestamp {
        self.input_watermark
    }

    /// How many records were dropped because their window had expired.
    pub fn dropped_due_to_lateness(&self) -> u64 {
        self.dropped_late
    }

    fn is_expired(&self, window: &Window, watermark: Timestamp) -> bool {
        watermark > gc_time(&self.strategy, window)
    }

    /// Adds records; returns the late panes they fired.
    pub fn process(&mut self, records: Vec<KeyedRecord>) -> Result<Vec<PaneOutput>, BoxError> {
        let merging = self.strategy.window_fn.is_merging();
        for record in records {
            if self.is_expired(&record.window, self.input_watermark) {
                self.dropped_late += 1;
                continue;
            }
            let combiner = self.strategy.timestamp_combiner;
            let windows = self.keys.entry(record.key.clone()).or_default();
            let ws = windows.entry(record.window).or_insert_with(|| WindowState {
                state: self.kernel.new_state(),
                pending_timestamp: None,
                has_new_data: false,
                on_time_fired: false,
                pane_index: 0,
                non_speculative_index: 0,
            });
            match record.kind {
                RecordKind::Value => ws.state.add_value(&record.payload)?,
                RecordKind::Accumulator => ws.state.add_accumulator(&record.payload)?,
            }
            ws.pending_timestamp = Some(
                ws.pending_timestamp
                    .map_or(record.timestamp, |t| combiner.combine(t, record.timestamp)),
            );
            ws.has_new_data = true;
            let mut window = record.window;
            if merging {
                window = self.merge_key_windows(&record.key, window)?;
            }
            if window.max_timestamp() < self.input_watermark {
                self.late_pending.push((record.key, window));
            }
        }
        let pending = std::mem::take(&mut self.late_pending);
        let mut panes = Vec::new();
        for (key, window) in pending {
            let watermark = self.input_watermark;
            let expired = self.is_expired(&window, watermark);
            if let Some(ws) = self.keys.get_mut(&key).and_then(|w| w.get_mut(&window)) {
                if ws.has_new_data {
                    panes.push(fire(
                        &self.strategy,
                        key.clone(),
                        window,
                        ws,
                        PaneTiming::Late,
                        expired,
                    )?);
                }
            }
        }
        Ok(panes)
    }

    /// Merges the windows of `key`; returns the window that `window` now belongs to.
    fn merge_key_windows(&mut self, key: &EncodedKey, window: Window) -> Result<Window, BoxError> {
        let Some(windows) = self.keys.get_mut(key) else {
            return Ok(window);
        };
        let active: Vec<Window> = windows.keys().copied().collect();
        let mut result_window = window;
        for merge in self.strategy.window_fn.merge_windows(&active) {
            let mut merged: Option<WindowState> = windows.remove(&merge.result);
            for source in &merge.sources {
                if *source == merge.result {
                    continue;
                }
                if let Some(ws) = windows.remove(source) {
                    merged = Some(match merged {
                        None => ws,
                        Some(mut into) => {
                            into.state.merge(ws.state)?;
                            into.pending_timestamp =
                                match (into.pending_timestamp, ws.pending_timestamp) {
                                    (Some(a), Some(b)) => {
                                        Some(self.strategy.timestamp_combiner.combine(a, b))
                                    }
                                    (a, b) => a.or(b),
                                };
                            into.has_new_data |= ws.has_new_data;
                            into.on_time_fired |= ws.on_time_fired;
                            into.pane_index = into.pane_index.max(ws.pane_index);
                            into.non_speculative_index =
                                into.non_speculative_index.max(ws.non_speculative_index);
                            into
                        }
                    });
                }
            }
            if let Some(ws) = merged {
                windows.insert(merge.result, ws);
            }
            if merge.sources.contains(&window) {
                result_window = merge.result;
            }
        }
        Ok(result_window)
    }

    /// Advances the input watermark; returns the panes that fire.
    pub fn advance_watermark(&mut self, watermark: Timestamp) -> Result<Vec<PaneOutput>, BoxError> {
        if watermark <= self.input_watermark {
            return Ok(Vec::new());
        }
        self.input_watermark = watermark;
        let mut panes = Vec::new();
        let strategy = self.strategy.clone();
        let mut empty_keys = Vec::new();
        for (key, windows) in self.keys.iter_mut() {
            let mut expired_windows = Vec::new();
            for (window, ws) in windows.iter_mut() {
                let gc = gc_time(&strategy, window);
                let expired = watermark > gc;
                if !ws.on_time_fired && window.max_timestamp() < watermark {
                    panes.push(fire(
                        &strategy,
                        key.clone(),
                        *window,
                        ws,
                        PaneTiming::OnTime,
                        expired,
                    )?);
                } else if expired && ws.has_new_data {
                    panes.push(fire(
                        &strategy,
                        key.clone(),
                        *window,
                        ws,
                        PaneTiming::Late,
                        true,
                    )?);
                }
                if expired {
                    expired_windows.push(*window);
                }
            }
            for w in expired_windows {
                windows.remove(&w);
            }
            if windows.is_empty() {
                empty_keys.push(key.clone());
            }
        }
        for k in empty_keys {
            self.keys.remove(&k);
        }
        Ok(panes)
    }

    /// Turns panes into an output bundle through the transform's kernel.
    pub fn build_output(
        &self,
        panes: Vec<PaneOutput>,
    ) -> Result<sluice_sdk::graph::Bundle, BoxError> {
        self.kernel.build_output(panes)
    }

    /// Whether no window state is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// When a window's state is garbage-collected: its end plus the allowed lateness, capped at
/// the end of the global window.
fn gc_time(strategy: &WindowingStrategy, window: &Window) -> Timestamp {
    let max = window.max_timestamp();
    if max >= Timestamp::END_OF_GLOBAL_WINDOW - strategy.allowed_lateness {
        Timestamp::END_OF_GLOBAL_WINDOW
    } else {
        max + strategy.allowed_lateness
    }
}

/// Emits the pane of one (key, window) and updates its counters.
fn fire(
    strategy: &WindowingStrategy,
    key: EncodedKey,
    window: Window,
    ws: &mut WindowState,
    timing: PaneTiming,
    is_last: bool,
) -> Result<PaneOutput, BoxError> {
    let value = ws.state.extract()?;
    let timestamp = match strategy.timestamp_combiner {
        TimestampCombiner::EndOfWindow => window.max_timestamp(),
        TimestampCombiner::Earliest | TimestampCombiner::Latest => {
            ws.pending_timestamp.unwrap_or(window.max_timestamp())
        }
    };
    let pane = PaneInfo {
        timing,
        is_first: ws.pane_index == 0,
        is_last,
        index: ws.pane_index,
        non_speculative_index: if timing == PaneTiming::Early {
            -1
        } else {
            ws.non_speculative_index
        },
    };
    ws.pane_index += 1;
    if timing != PaneTiming::Early {
        ws.non_speculative_index += 1;
    }
    if timing == PaneTiming::OnTime {
        ws.on_time_fired = true;
    }
    ws.pending_timestamp = None;
    ws.has_new_data = false;
    if strategy.accumulation_mode == AccumulationMode::Discarding {
        ws.state.clear();
    }
    Ok(PaneOutput {
        key,
        window,
        timestamp,
        pane,
        value,
    })
}

/// What grouping one shard of bounded input produced.
pub struct GroupedShard {
    /// The output elements (`KV<K, O>`), in bundles.
    pub bundles: Vec<sluice_sdk::graph::Bundle>,
    /// Records in, panes out.
    pub count: sluice_sdk::result::ElementCount,
    /// Records dropped because their window had expired.
    pub dropped: u64,
}

/// Groups one shard of a bounded input: adds every batch of records, then advances the
/// watermark to the end of time so that every (key, window) fires its single pane.
pub fn group_bounded(
    name: &str,
    kernel: Arc<dyn GroupKernel>,
    strategy: WindowingStrategy,
    batches: impl IntoIterator<Item = Result<Vec<KeyedRecord>, sluice_sdk::error::PipelineError>>,
    bundle_size: usize,
) -> Result<GroupedShard, sluice_sdk::error::PipelineError> {
    use crate::core::invoke::invoke;
    let mut gabw = GroupAlsoByWindow::new(kernel, strategy);
    let mut panes = Vec::new();
    let mut count = sluice_sdk::result::ElementCount::default();
    for batch in batches {
        let batch = batch?;
        count.input += batch.len() as u64;
        panes.extend(invoke(name, || gabw.process(batch))?);
    }
    panes.extend(invoke(name, || gabw.advance_watermark(Timestamp::MAX))?);
    count.output = panes.len() as u64;
    let output = invoke(name, || gabw.build_output(panes))?;
    Ok(GroupedShard {
        bundles: output.chunks(bundle_size),
        count,
        dropped: gabw.dropped_due_to_lateness(),
    })
}

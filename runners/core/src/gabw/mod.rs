//! GroupAlsoByWindow: grouping per key *and window*, and deciding when each group is emitted.
//!
//! Every runner shuffles keyed records so that all records of a key meet in one place, then
//! feeds them here. For each (key, window) this keeps the buffered values or the accumulator
//! (a [`GroupState`](sluice_sdk::graph::kernel::GroupState) from the transform's kernel), the
//! [trigger state](super::trigger), the pane counters, and the output timestamp the next pane
//! will carry (a [`WindowState`], in `window_state.rs`). It receives records,
//! input-watermark advances and processing-time advances, and emits panes whenever the
//! window's trigger is ready: after each batch of records, and after each advance.
//!
//! - **Timing** (as Beam's PaneInfoTracker): a pane is `Late` once an on-time or late pane was
//!   emitted before it; otherwise `Early` while the input watermark has not passed the
//!   window's maximum timestamp, and `OnTime` once it has.
//! - **Contents**: in discarding mode a pane holds what arrived since the previous one; in
//!   accumulating mode everything so far. A pane with nothing new is not emitted, except the
//!   on-time pane, which always is (it may be empty in discarding mode after early panes).
//! - **Timestamps**: the window's maximum timestamp (end of window), or the earliest / latest
//!   timestamp of the pane's records. A record behind the input watermark cannot hold the
//!   output back at its own timestamp, so it does not count; a pane with no such record takes
//!   the window's maximum timestamp.
//! - **Closing**: when the trigger finishes, its pane is final and the window closes: later
//!   records for it are dropped (counted as closed-window drops).
//! - **Expiry**: once the input watermark passes `max_timestamp + allowed_lateness` (capped at
//!   the end of the global window, as Beam does), the window fires a last pane if it holds
//!   unfired data and its state is dropped. Records for an expired window are dropped and
//!   counted.
//!
//! Merging window functions (sessions) merge the windows of a key as records arrive; the
//! merged window takes over the buffered values and trigger state of the windows it replaced,
//! and may be ready at once. Pane counters stay with their window, as in Beam: a merge result
//! that is a new window starts again at pane index 0, one that was among the merged windows
//! goes on counting.
//!
//! On bounded input with the default trigger the watermark jumps once from the minimum to the
//! maximum, so every (key, window) emits exactly one pane, on time and final.
//!
//! The state of every (key, window) — buffered values or accumulator, trigger state, pane
//! counters — lives in the shard's [`KeyedStore`], the store stateful DoFns keep their cells
//! and timers in, so that one snapshot captures every keyed transform (see
//! [`snapshot`](GroupAlsoByWindow::snapshot)). Where Beam's ReduceFnRunner sets an
//! end-of-window and a garbage-collection timer per (key, window), this grouping asks the
//! store's window index which windows an advance of the watermark passes (one entry per
//! window, not per key) and consults only their slots; processing-time advances consult every
//! slot, and only when the trigger uses processing time.

mod window_state;

pub use window_state::WindowState;
use window_state::{Clock, try_fire};

use super::state::{KeyedSnapshot, KeyedStore, Slot};
use super::trigger::{TriggerContext, uses_processing_time};
use rustc_hash::{FxHashMap, FxHashSet};
use sluice_sdk::element::{CoderError, EncodedKey};
use sluice_sdk::error::BoxError;
use sluice_sdk::graph::kernel::{GroupKernel, KeyedRecord, PaneOutput};
use sluice_sdk::time::Timestamp;
use sluice_sdk::trigger::{TimestampCombiner, Trigger};
use sluice_sdk::window::{Slicing, Window};
use sluice_sdk::windowing::WindowingStrategy;
use std::sync::Arc;

/// The earlier of two arrival numbers, either possibly absent.
fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Each record of `records` (in a slice of `slicing`) once in every window of its slice, in
/// order: a run of one key and slice becomes a run per window.
fn explode_records(
    slicing: &Slicing,
    records: Vec<KeyedRecord>,
) -> Result<Vec<KeyedRecord>, BoxError> {
    let per_slice = usize::try_from(slicing.windows_per_slice()).unwrap_or(1);
    let mut out = Vec::with_capacity(records.len().saturating_mul(per_slice));
    let mut next = 0;
    while next < records.len() {
        let first = &records[next];
        let run = records[next..]
            .iter()
            .position(|r| r.key != first.key || r.window != first.window)
            .unwrap_or(records.len() - next);
        let Window::Interval(slice) = first.window else {
            return Err(format!("a sliced record is in {:?}, not in a slice", first.window).into());
        };
        for window in slicing.windows_of(&slice) {
            out.extend(records[next..next + run].iter().map(|r| KeyedRecord {
                window,
                ..r.clone()
            }));
        }
        next += run;
    }
    Ok(out)
}

/// How many (key, window) slots a state-size estimate encodes.
pub(crate) const STATE_SAMPLE: usize = 16;

/// GroupAlsoByWindow for one grouping transform (all keys of one shard).
pub struct GroupAlsoByWindow {
    kernel: Arc<dyn GroupKernel>,
    strategy: WindowingStrategy,
    /// The state of every (key, window) that holds some.
    store: KeyedStore<WindowState>,
    /// For merging window functions: the active windows of each key.
    active: FxHashMap<EncodedKey, Vec<Window>>,
    /// Whether processing-time advances can make a trigger ready.
    processing_time_trigger: bool,
    input_watermark: Timestamp,
    processing_time: Timestamp,
    dropped_late: u64,
    dropped_closed: u64,
    /// The arrival sequence number stamped on the records added now.
    arrival: u64,
    /// When records come in slices of sliding windows (see
    /// [`Sliced`](sluice_sdk::graph::Sliced)): how, to put each in its windows.
    slicing: Option<Slicing>,
}

impl GroupAlsoByWindow {
    /// A new, empty grouping with the input's windowing strategy. Processing time starts at 0.
    pub fn new(kernel: Arc<dyn GroupKernel>, strategy: WindowingStrategy) -> Self {
        GroupAlsoByWindow {
            store: KeyedStore::new(strategy.allowed_lateness),
            processing_time_trigger: uses_processing_time(&strategy.trigger),
            kernel,
            strategy,
            active: FxHashMap::default(),
            input_watermark: Timestamp::MIN,
            processing_time: Timestamp::from_micros(0),
            dropped_late: 0,
            dropped_closed: 0,
            arrival: 0,
            slicing: None,
        }
    }

    /// The same grouping taking records in slices of `slicing` (if given), each put in every
    /// window of its slice before it is grouped: per-window accumulation, as a trigger or
    /// a merge needs.
    pub fn with_slicing(self, slicing: Option<Slicing>) -> Self {
        GroupAlsoByWindow { slicing, ..self }
    }

    /// The grouping's store, encoded, with the watermark and processing time it had reached:
    /// what a checkpoint keeps of it.
    pub fn snapshot(&self) -> Result<KeyedSnapshot, CoderError> {
        Ok(KeyedSnapshot {
            store: self.store.snapshot()?,
            input_watermark: self.input_watermark,
            processing_time: self.processing_time,
            held_input: Vec::new(),
        })
    }

    /// A grouping that goes on from `snapshot`, taken of a grouping of the same transform.
    pub fn restore(
        kernel: Arc<dyn GroupKernel>,
        strategy: WindowingStrategy,
        snapshot: KeyedSnapshot,
    ) -> Result<Self, CoderError> {
        let mut g = GroupAlsoByWindow::new(kernel, strategy);
        let kernel = g.kernel.clone();
        g.store = KeyedStore::restore(snapshot.store, |b| WindowState::decode(kernel.as_ref(), b))?;
        if g.strategy.window_fn.is_merging() {
            let mut ids = Vec::new();
            g.store.retain(|id, _| {
                ids.push(id.clone());
                true
            });
            for (key, window) in ids {
                g.active.entry(key).or_default().push(window);
            }
        }
        g.input_watermark = snapshot.input_watermark;
        g.processing_time = snapshot.processing_time;
        Ok(g)
    }

    /// Goes on from `snapshot`, taken of a grouping of the same transform (see
    /// [`restore`](Self::restore)).
    pub fn restore_in_place(&mut self, snapshot: KeyedSnapshot) -> Result<(), CoderError> {
        *self = GroupAlsoByWindow::restore(self.kernel.clone(), self.strategy.clone(), snapshot)?
            .with_slicing(self.slicing);
        Ok(())
    }

    /// Sets the arrival sequence number of the records processed from now on. A streaming
    /// runner numbers what it reads, in order, to know which reads have reached the output
    /// (see [`oldest_unemitted`](Self::oldest_unemitted)).
    pub fn set_arrival(&mut self, sequence: u64) {
        self.arrival = sequence;
    }

    /// The smallest arrival sequence number among the records held in a window and not yet
    /// part of any pane, if any: reads numbered below it have all reached the output (or were
    /// dropped), so their checkpoints may be finalized.
    pub fn oldest_unemitted(&self) -> Option<u64> {
        self.store.oldest_unemitted()
    }

    /// How many records were dropped because their window had expired.
    pub fn dropped_due_to_lateness(&self) -> u64 {
        self.dropped_late
    }

    /// How many records were dropped because their window's trigger had finished.
    pub fn dropped_due_to_closed_window(&self) -> u64 {
        self.dropped_closed
    }

    /// Adds a batch of records; returns the panes their windows' triggers fired.
    ///
    /// Records come a run at a time: consecutive records of one key and window share one
    /// look-up of their state and one call of its typed
    /// [`add_run`](sluice_sdk::graph::kernel::GroupState::add_run).
    /// (With merging windows every record is a run of its own: its window merges first.)
    pub fn process(&mut self, mut records: Vec<KeyedRecord>) -> Result<Vec<PaneOutput>, BoxError> {
        if let Some(slicing) = &self.slicing {
            records = explode_records(slicing, records)?;
        }
        let merging = self.strategy.window_fn.is_merging();
        let combiner = self.strategy.timestamp_combiner;
        // Under the default trigger only windows already past their end can fire on arrival;
        // the others need not be remembered (nor their keys copied).
        let default_trigger = self.strategy.trigger == Trigger::Default;
        let mut touched: FxHashSet<(EncodedKey, Window)> = Default::default();
        let mut next = 0;
        while next < records.len() {
            let start = next;
            next = if merging {
                start + 1
            } else {
                let (key, window) = (&records[start].key, records[start].window);
                start
                    + records[start..]
                        .iter()
                        .position(|r| r.key != *key || r.window != window)
                        .unwrap_or(records.len() - start)
            };
            let run = &mut records[start..next];
            if self.input_watermark > self.store.expiry(&run[0].window) {
                self.dropped_late += run.len() as u64;
                continue;
            }
            // The run's key moves into the store (no copy); the records keep their payloads.
            let key = std::mem::replace(&mut run[0].key, EncodedKey::from_slice(&[]));
            // A new window merges first: the element then counts in the window it ends up in.
            let window = if merging {
                self.merge_new_window(&key, run[0].window)?
            } else {
                run[0].window
            };
            let late = window.max_timestamp() < self.input_watermark;
            let remember = (!default_trigger || late).then(|| (key.clone(), window));
            let (kernel, trigger) = (self.kernel.as_ref(), &self.strategy.trigger);
            let slot = self
                .store
                .slot_owned((key, window), || WindowState::fresh(kernel, trigger, late));
            let ws = &mut slot.contents;
            if ws.firing.closed {
                self.dropped_closed += run.len() as u64;
                continue;
            }
            ws.state.add_run(run)?;
            ws.firing.has_new_data = true;
            slot.unemitted_since = earliest(slot.unemitted_since, Some(self.arrival));
            let ctx = TriggerContext {
                window: &window,
                watermark: self.input_watermark,
                processing_time: self.processing_time,
            };
            for record in run.iter() {
                if combiner != TimestampCombiner::EndOfWindow
                    && record.timestamp >= self.input_watermark
                {
                    ws.firing.pending_timestamp = Some(
                        ws.firing
                            .pending_timestamp
                            .map_or(record.timestamp, |t| combiner.combine(t, record.timestamp)),
                    );
                }
                ws.firing.trigger.on_element(&ctx);
            }
            if let Some(id) = remember {
                touched.insert(id);
            }
        }
        let mut panes = Vec::new();
        let clock = self.clock();
        for id in touched {
            // A later merge may have replaced the window.
            let Some(slot) = self.store.get_mut(&id) else {
                continue;
            };
            if let Some(p) = try_fire(&self.strategy, clock, &id.0, &id.1, slot, false)? {
                panes.push(p);
            }
        }
        Ok(panes)
    }

    fn clock(&self) -> Clock {
        Clock {
            watermark: self.input_watermark,
            processing_time: self.processing_time,
        }
    }

    /// Adds `window` to the active windows of `key` and merges them; returns the window that
    /// `window` now belongs to.
    ///
    /// Pane counters belong to a window, as in Beam (its pane-info state is kept per window
    /// and cleared for windows merged away): a merge result that was one of the merged
    /// windows goes on counting its panes, and a new one starts at pane 0.
    fn merge_new_window(&mut self, key: &EncodedKey, window: Window) -> Result<Window, BoxError> {
        let id = (key.clone(), window);
        if !self.store.contains(&id) {
            let late = window.max_timestamp() < self.input_watermark;
            let fresh = WindowState::fresh(self.kernel.as_ref(), &self.strategy.trigger, late);
            self.store.insert(id, Slot::new(fresh));
            self.active.entry(key.clone()).or_default().push(window);
        }
        let active = self.active.get(key).cloned().unwrap_or_default();
        let mut result = window;
        for merge in self.strategy.window_fn.merge_windows(&active) {
            let mut merged = self.store.remove(&(key.clone(), merge.result));
            let result_is_new = merged.is_none();
            let mut holds = merged
                .as_ref()
                .is_some_and(|s| s.contents.holds_before_end());
            for source in merge.sources.iter().filter(|s| **s != merge.result) {
                let Some(slot) = self.store.remove(&(key.clone(), *source)) else {
                    continue;
                };
                holds |= slot.contents.holds_before_end();
                match &mut merged {
                    None => merged = Some(slot),
                    Some(into) => {
                        into.unemitted_since = earliest(into.unemitted_since, slot.unemitted_since);
                        into.contents
                            .absorb(slot.contents, self.strategy.timestamp_combiner)?;
                    }
                }
            }
            if let Some(mut slot) = merged {
                if result_is_new {
                    let late = merge.result.max_timestamp() < self.input_watermark && !holds;
                    slot.contents.start_as_new_window(late);
                }
                self.store.insert((key.clone(), merge.result), slot);
            }
            if let Some(list) = self.active.get_mut(key) {
                list.retain(|w| !merge.sources.contains(w) && *w != merge.result);
                list.push(merge.result);
            }
            if merge.sources.contains(&window) {
                result = merge.result;
            }
        }
        Ok(result)
    }

    /// Advances the input watermark; returns the panes that fire, including last panes of
    /// windows that expire.
    pub fn advance_watermark(&mut self, watermark: Timestamp) -> Result<Vec<PaneOutput>, BoxError> {
        if watermark <= self.input_watermark {
            return Ok(Vec::new());
        }
        let passed = self.store.windows_passed(self.input_watermark, watermark);
        self.input_watermark = watermark;
        if passed.is_empty() {
            return Ok(Vec::new());
        }
        let passed: FxHashSet<Window> = passed.into_iter().collect();
        let panes = self.fire_ready(|w| passed.contains(w))?;
        let (store, watermark) = (&self.store, self.input_watermark);
        self.active.retain(|_, list| {
            list.retain(|w| watermark <= store.expiry(w));
            !list.is_empty()
        });
        Ok(panes)
    }

    /// Advances processing time; returns the panes of the triggers that became ready.
    pub fn advance_processing_time(&mut self, now: Timestamp) -> Result<Vec<PaneOutput>, BoxError> {
        if now <= self.processing_time {
            return Ok(Vec::new());
        }
        self.processing_time = now;
        if !self.processing_time_trigger {
            return Ok(Vec::new());
        }
        self.fire_ready(|_| true)
    }

    /// Fires every ready window among those `consult` accepts, and expires the windows past
    /// their garbage-collection time.
    fn fire_ready(
        &mut self,
        consult: impl Fn(&Window) -> bool,
    ) -> Result<Vec<PaneOutput>, BoxError> {
        let mut panes = Vec::new();
        let clock = self.clock();
        let strategy = &self.strategy;
        let mut result = Ok(());
        self.store.retain(|(key, window), slot| {
            if result.is_err() || !consult(window) {
                return true;
            }
            let expiring = clock.watermark > strategy.expiry(window);
            match try_fire(strategy, clock, key, window, slot, expiring) {
                Ok(Some(p)) => panes.push(p),
                Ok(None) => {}
                Err(e) => result = Err(e),
            }
            !expiring
        });
        result.map(|()| panes)
    }

    /// How many (key, window) pairs hold state.
    pub(crate) fn window_count(&self) -> usize {
        self.store.len()
    }

    /// About how many bytes its state takes, encoded (sampled: see
    /// [`KeyedStore::estimated_bytes`]).
    pub(crate) fn estimated_state_bytes(&self) -> u64 {
        self.store.estimated_bytes(STATE_SAMPLE)
    }

    /// Turns panes into an output bundle through the transform's kernel.
    pub fn build_output(
        &self,
        panes: Vec<PaneOutput>,
    ) -> Result<sluice_sdk::graph::Bundle, BoxError> {
        self.kernel.build_output(panes)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sluice_sdk::graph::NodeKind;
    use sluice_sdk::graph::kernel::RecordKind;
    use sluice_sdk::prelude::*;
    use sluice_sdk::time::Duration;

    /// The GroupByKey kernel of a `KV<String, i64>` pipeline and its windowing strategy.
    pub(crate) fn gbk_parts(
        window: impl WindowFn,
        lateness: Duration,
    ) -> (Arc<dyn GroupKernel>, WindowingStrategy) {
        let p = Pipeline::new();
        p.apply("Create", Create::of(Vec::<KV<String, i64>>::new()))
            .apply(
                "Window",
                WindowInto::new(window).with_allowed_lateness(lateness),
            )
            .apply("Group", GroupByKey);
        let graph = p.graph().unwrap();
        let node = graph.nodes.iter().find(|n| n.name == "Group").unwrap();
        let NodeKind::GroupByKey(kernel) = &node.kind else {
            panic!("not a grouping")
        };
        (
            kernel.clone(),
            graph.collection(node.inputs[0]).windowing.clone(),
        )
    }

    /// A grouping of `KV<String, i64>` records.
    pub(crate) fn gbk(window: impl WindowFn, lateness: Duration) -> GroupAlsoByWindow {
        let (kernel, strategy) = gbk_parts(window, lateness);
        GroupAlsoByWindow::new(kernel, strategy)
    }

    pub(crate) fn record(key: &str, value: i64, secs: i64, window: Window) -> KeyedRecord {
        KeyedRecord {
            key: EncodedKey::of(&key.to_string()).unwrap(),
            payload: sluice_sdk::element::encode_inline(&value).unwrap(),
            kind: RecordKind::Value,
            timestamp: Timestamp::from_secs(secs),
            window,
        }
    }

    pub(crate) fn values(p: &PaneOutput) -> Vec<i64> {
        let mut v = p.value.downcast_ref::<Vec<i64>>().unwrap().clone();
        v.sort();
        v
    }

    pub(crate) fn w(start: i64, end: i64) -> Window {
        Window::interval(Timestamp::from_secs(start), Timestamp::from_secs(end))
    }

    #[test]
    fn on_time_then_late_panes_then_expiry_drops() {
        let mut g = gbk(
            FixedWindows::of(Duration::from_secs(10)),
            Duration::from_secs(5),
        );
        assert!(
            g.process(vec![
                record("a", 1, 1, w(0, 10)),
                record("a", 2, 2, w(0, 10))
            ])
            .unwrap()
            .is_empty()
        );
        let on_time = g.advance_watermark(Timestamp::from_secs(10)).unwrap();
        assert_eq!(on_time.len(), 1);
        assert_eq!(values(&on_time[0]), vec![1, 2]);
        assert_eq!(
            on_time[0].pane,
            PaneInfo {
                timing: PaneTiming::OnTime,
                is_first: true,
                is_last: false,
                index: 0,
                non_speculative_index: 0
            }
        );
        // Late but within the allowed lateness: fires at once, discarding what fired before.
        let late = g.process(vec![record("a", 3, 4, w(0, 10))]).unwrap();
        assert_eq!(values(&late[0]), vec![3]);
        assert_eq!(
            late[0].pane,
            PaneInfo {
                timing: PaneTiming::Late,
                is_first: false,
                is_last: false,
                index: 1,
                non_speculative_index: 1
            }
        );
        // Expiry without new data fires nothing; afterwards records are dropped and counted.
        assert!(
            g.advance_watermark(Timestamp::from_secs(16))
                .unwrap()
                .is_empty()
        );
        assert_eq!(g.window_count(), 0, "expired windows keep no state");
        assert!(
            g.process(vec![record("a", 4, 5, w(0, 10))])
                .unwrap()
                .is_empty()
        );
        assert_eq!(g.dropped_due_to_lateness(), 1);
    }

    #[test]
    fn tracks_the_oldest_read_not_yet_in_a_pane() {
        let mut g = gbk(FixedWindows::of(Duration::from_secs(10)), Duration::ZERO);
        assert_eq!(g.oldest_unemitted(), None);
        g.set_arrival(1);
        g.process(vec![record("a", 1, 1, w(0, 10))]).unwrap();
        g.set_arrival(2);
        g.process(vec![
            record("a", 2, 2, w(0, 10)),
            record("b", 3, 12, w(10, 20)),
        ])
        .unwrap();
        assert_eq!(g.oldest_unemitted(), Some(1));
        // The first window fires: only the read numbered 2 still waits, in the second one.
        assert_eq!(
            g.advance_watermark(Timestamp::from_secs(10)).unwrap().len(),
            1
        );
        assert_eq!(g.oldest_unemitted(), Some(2));
        g.advance_watermark(Timestamp::from_secs(20)).unwrap();
        assert_eq!(g.oldest_unemitted(), None);
    }

    #[test]
    fn sessions_merge_with_their_state() {
        let mut g = gbk(Sessions::with_gap(Duration::from_secs(10)), Duration::ZERO);
        g.process(vec![
            record("a", 1, 0, w(0, 10)),
            record("a", 2, 30, w(30, 40)),
            record("b", 9, 5, w(5, 15)),
        ])
        .unwrap();
        // The element at 8 bridges nothing but extends [0, 10) to [0, 18).
        g.process(vec![record("a", 3, 8, w(8, 18))]).unwrap();
        let mut panes = g.advance_watermark(Timestamp::MAX).unwrap();
        panes.sort_by_key(|p| (p.key.bytes().to_vec(), p.window));
        let got: Vec<(Window, Vec<i64>, bool)> = panes
            .iter()
            .map(|p| (p.window, values(p), p.pane.is_last))
            .collect();
        assert_eq!(
            got,
            vec![
                (w(0, 18), vec![1, 3], true),
                (w(30, 40), vec![2], true),
                (w(5, 15), vec![9], true)
            ]
        );
    }

    #[test]
    fn a_restored_grouping_fires_what_the_original_would() {
        let (kernel, strategy) = gbk_parts(
            Sessions::with_gap(Duration::from_secs(10)),
            Duration::from_secs(30),
        );
        let mut g = GroupAlsoByWindow::new(kernel.clone(), strategy.clone());
        g.process(vec![
            record("a", 1, 0, w(0, 10)),
            record("b", 2, 40, w(40, 50)),
        ])
        .unwrap();
        g.advance_watermark(Timestamp::from_secs(20)).unwrap();
        let snapshot = g.snapshot().unwrap();
        let bytes = sluice_sdk::element::encode(&snapshot).unwrap();
        let back: KeyedSnapshot = sluice_sdk::element::decode(&bytes).unwrap();
        let mut restored = GroupAlsoByWindow::restore(kernel, strategy, back).unwrap();
        assert_eq!(restored.snapshot().unwrap(), snapshot);
        // Both go on alike: a late record merges into a's fired session, b's session fires.
        let mut outputs = Vec::new();
        for grouping in [&mut g, &mut restored] {
            let mut panes = grouping.process(vec![record("a", 3, 5, w(5, 15))]).unwrap();
            panes.extend(grouping.advance_watermark(Timestamp::MAX).unwrap());
            panes.sort_by_key(|p| (p.key.bytes().to_vec(), p.window));
            let got: Vec<(Window, Vec<i64>, PaneTiming, u64)> = panes
                .iter()
                .map(|p| (p.window, values(p), p.pane.timing, p.pane.index))
                .collect();
            outputs.push(got);
        }
        assert_eq!(outputs[0], outputs[1]);
        assert_eq!(
            outputs[0],
            vec![
                (w(0, 15), vec![3], PaneTiming::Late, 0),
                (w(40, 50), vec![2], PaneTiming::OnTime, 0)
            ]
        );
    }

    #[test]
    fn an_advance_consults_only_the_windows_it_passes() {
        let mut g = gbk(FixedWindows::of(Duration::from_secs(10)), Duration::ZERO);
        g.process(vec![
            record("a", 1, 1, w(0, 10)),
            record("a", 2, 25, w(20, 30)),
        ])
        .unwrap();
        assert_eq!(
            g.store
                .windows_passed(Timestamp::MIN, Timestamp::from_secs(15)),
            vec![w(0, 10)]
        );
        let panes = g.advance_watermark(Timestamp::from_secs(15)).unwrap();
        assert_eq!(panes.len(), 1);
        assert_eq!(values(&panes[0]), vec![1]);
        assert_eq!(g.window_count(), 1, "the expired window is gone");
        assert!(
            g.store
                .windows_passed(Timestamp::from_secs(15), Timestamp::from_secs(29))
                .is_empty()
        );
        assert_eq!(
            values(&g.advance_watermark(Timestamp::MAX).unwrap()[0]),
            vec![2]
        );
    }
}

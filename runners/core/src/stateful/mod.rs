//! Runs a stateful ParDo on one shard of keys: elements, timers and window expiry over a
//! [`KeyedStore`].
//!
//! For each record the runner opens the (key, window) slot of the store and hands it to the
//! DoFn's operator; the timer requests of the call are then applied to the store. As the input
//! watermark advances, event-time timers fire in timestamp order — a timer set while firing
//! to a time the watermark has passed fires in the same advance, before any later timer — and
//! windows past their expiry see `on_window_expiration` and are dropped with their state and
//! timers. Processing-time timers fire as processing time advances; at the end of input (the
//! watermark at its maximum) the pending ones fire once, as on Beam's portable runners.
//! Records for an expired window are dropped and counted, as for a grouping.
//!
//! **Bounded input** ([`StatefulDoFnRunner::run_bounded`]): the shard's records are grouped by
//! key and each key runs on its own, so the store holds one key at a time. As in Beam's batch
//! runners, the key's elements go in as they arrived with the watermark at the beginning of
//! time, then the watermark jumps to the end of time and the timers fire.
//!
//! **Time-sorted input** (`time_sorted.rs`): for a DoFn that requires it, an element ahead of
//! the watermark is held back until the watermark reaches it; then the held elements go in by
//! timestamp, each after the event-time timers due before it. On bounded input each key's
//! elements are sorted by timestamp and the key's watermark follows them. Either way the result
//! is what a streaming run with a perfect watermark gives.

mod time_sorted;

use super::state::{KeyedSnapshot, KeyedStore, PendingTimer};
use sluice_sdk::element::EncodedKey;
use sluice_sdk::error::BoxError;
use sluice_sdk::graph::Bundle;
use sluice_sdk::graph::kernel::{
    KeyedRecord, SideInputs, StateScope, StatefulKernel, StatefulOperator,
};
use sluice_sdk::metrics::MetricsContainer;
use sluice_sdk::state::StateSlot;
use sluice_sdk::state::{FiredTimer, TimeDomain, TimerOp};
use sluice_sdk::time::{Duration, Timestamp};
use sluice_sdk::window::Window;
use sluice_sdk::windowing::WindowingStrategy;
use std::sync::Arc;
use time_sorted::SortedInput;

/// Sorts records so that each key's are together, in timestamp order (equal timestamps in no
/// particular order: an unstable sort, as Beam leaves them undefined). Sorting compares key
/// hashes; keys whose hashes collide are then told apart by their bytes.
fn sort_by_key_and_time(records: &mut [KeyedRecord]) {
    records.sort_unstable_by_key(|r| (r.key.hash(), r.timestamp));
    separate_colliding_keys(records, |a, b| {
        (a.key.bytes(), a.timestamp).cmp(&(b.key.bytes(), b.timestamp))
    });
}

/// Brings each key's records together, keeping the order they arrived in (a stable sort).
fn group_by_key_in_arrival_order(records: &mut [KeyedRecord]) {
    records.sort_by_key(|r| r.key.hash());
    separate_colliding_keys(records, |a, b| a.key.bytes().cmp(b.key.bytes()));
}

/// Within each run of records whose key hashes are equal but whose keys differ, sorts by
/// `order` (a stable sort).
fn separate_colliding_keys(
    records: &mut [KeyedRecord],
    order: impl Fn(&KeyedRecord, &KeyedRecord) -> std::cmp::Ordering,
) {
    let mut start = 0;
    while start < records.len() {
        let first = &records[start].key;
        let mut end = start + 1;
        let mut mixed = false;
        while end < records.len() && records[end].key.hash() == first.hash() {
            mixed |= records[end].key != *first;
            end += 1;
        }
        if mixed {
            records[start..end].sort_by(&order);
        }
        start = end;
    }
}

/// A stateful ParDo over the keys of one shard.
pub struct StatefulDoFnRunner {
    kernel: Arc<dyn StatefulKernel>,
    op: Box<dyn StatefulOperator>,
    strategy: WindowingStrategy,
    store: KeyedStore,
    input_watermark: Timestamp,
    processing_time: Timestamp,
    /// Timer requests of the current call.
    ops: Vec<TimerOp>,
    dropped_late: u64,
    /// The arrival number stamped on the records processed now.
    arrival: u64,
    /// Whether the DoFn takes each key's elements in timestamp order.
    time_sorted: bool,
    /// Elements held back until the watermark reaches them (time-sorted input only).
    held: SortedInput,
}

impl StatefulDoFnRunner {
    /// A runner with an empty store, its operator set up; processing time starts at `now`.
    pub fn new(
        kernel: Arc<dyn StatefulKernel>,
        strategy: WindowingStrategy,
        side_inputs: &SideInputs,
        now: Timestamp,
    ) -> Result<Self, BoxError> {
        let op = kernel.create(side_inputs)?;
        Ok(StatefulDoFnRunner {
            kernel: kernel.clone(),
            op,
            store: KeyedStore::new(strategy.allowed_lateness),
            strategy,
            input_watermark: Timestamp::MIN,
            processing_time: now,
            ops: Vec::new(),
            dropped_late: 0,
            arrival: 0,
            time_sorted: kernel.requires_time_sorted_input(),
            held: SortedInput::default(),
        })
    }

    /// Processes a batch of records as they arrive; returns what the DoFn emitted.
    pub fn process(&mut self, records: Vec<KeyedRecord>) -> Result<Bundle, BoxError> {
        if self.time_sorted {
            for r in records {
                self.take_in_time_order(r)?;
            }
        } else {
            self.process_runs(&records, false)?;
        }
        self.op.take_output()
    }

    /// Holds `record` back until the watermark reaches it. One already behind the watermark
    /// goes in at once while within the allowed lateness and is dropped after it, as in
    /// Beam's sort buffer.
    fn take_in_time_order(&mut self, record: KeyedRecord) -> Result<(), BoxError> {
        if record.timestamp > self.input_watermark {
            self.held.push(record, self.arrival);
            return Ok(());
        }
        if record.timestamp + self.strategy.allowed_lateness < self.input_watermark {
            self.dropped_late += 1;
            return Ok(());
        }
        self.process_runs(std::slice::from_ref(&record), false)
    }

    /// Processes the held elements up to `watermark` in timestamp order, each after the
    /// event-time timers due before it.
    fn release_held(&mut self, watermark: Timestamp) -> Result<(), BoxError> {
        let current = self.arrival;
        while let Some((record, arrival)) = self.held.pop_until(watermark) {
            self.arrival = arrival;
            self.process_runs(std::slice::from_ref(&record), true)?;
        }
        self.arrival = current;
        Ok(())
    }

    /// Processes `records` in order, a run at a time: consecutive records of one key and
    /// window, handed to the DoFn in one call. When the watermark `follows` the records (each
    /// key's records in timestamp order), it moves to each record's timestamp first, firing
    /// the timers due and expiring the windows passed, and a run stops where that could
    /// happen before its next record.
    fn process_runs(&mut self, records: &[KeyedRecord], follows: bool) -> Result<(), BoxError> {
        let mut start = 0;
        while start < records.len() {
            let first = &records[start];
            let end = start
                + records[start..]
                    .iter()
                    .position(|r| r.key != first.key || r.window != first.window)
                    .unwrap_or(records.len() - start);
            while start < end {
                if follows {
                    self.advance_to(records[start].timestamp)?;
                }
                start += self.process_run(&records[start..end], follows)?;
            }
        }
        Ok(())
    }

    /// Hands the DoFn (a first part of) `run`, records of one key and window; returns how many
    /// it took.
    fn process_run(&mut self, run: &[KeyedRecord], follows: bool) -> Result<usize, BoxError> {
        let window = run[0].window;
        let expiry = self.strategy.expiry(&window);
        if self.input_watermark > expiry {
            self.dropped_late += run.len() as u64;
            return Ok(run.len());
        }
        // With the watermark following the records, the next record must wait for whatever
        // of the store falls due before it (a timer, an expiry) and for what this run asks.
        let (until, stop_at_timer) = match self.store.next_event().filter(|_| follows) {
            Some(due) => (due + Duration::EPSILON, true),
            None => (Timestamp::MAX, follows),
        };
        let id = (run[0].key.clone(), window);
        let arrival = self.arrival;
        self.call_with_state(id, |op, scope, unemitted_since| {
            // The oldest arrival, whatever order records come in (several sources).
            *unemitted_since = Some(unemitted_since.map_or(arrival, |a| a.min(arrival)));
            op.process_run(&run[0].key, run, until, stop_at_timer, scope)
        })
    }

    fn fire(&mut self, id: (EncodedKey, Window), timer: PendingTimer) -> Result<(), BoxError> {
        let fired = FiredTimer {
            timer: timer.timer,
            tag: timer.tag,
            domain: timer.domain,
            time: timer.at,
            output_timestamp: timer.output_timestamp,
            window: id.1,
        };
        let key = id.0.clone();
        self.call_with_state(id, |op, scope, _| op.on_timer(&key, &fired, scope))
    }

    /// Calls the operator with the state of `id` (its cells, where its timer requests go, its
    /// window's expiry, the processing time) and where the slot keeps its oldest unemitted
    /// arrival; then the store applies the call's timer requests and forgets the slot if the
    /// call left it empty.
    fn call_with_state<R>(
        &mut self,
        id: (EncodedKey, Window),
        call: impl FnOnce(&mut dyn StatefulOperator, StateScope<'_>, &mut Option<u64>) -> R,
    ) -> R {
        let (window, expiry) = (id.1, self.strategy.expiry(&id.1));
        let (op, processing_time) = (&mut self.op, self.processing_time);
        let declarations = self.kernel.declarations();
        self.store.call_on(
            id,
            &mut self.ops,
            declarations,
            StateSlot::new,
            |slot, ops| {
                let scope = StateScope {
                    slot: &mut slot.contents,
                    timers: ops,
                    window,
                    expiry,
                    processing_time,
                };
                call(op.as_mut(), scope, &mut slot.unemitted_since)
            },
        )
    }

    /// Fires every event-time timer the watermark has passed, in timestamp order, including
    /// those set meanwhile.
    fn fire_event_timers(&mut self) -> Result<(), BoxError> {
        while let Some((id, timer)) = self
            .store
            .pop_due_timer(TimeDomain::EventTime, self.input_watermark)
        {
            self.fire(id, timer)?;
        }
        Ok(())
    }

    /// Advances the input watermark: fires the event-time timers it passes, then expires the
    /// windows it passes. At the end of time, the pending processing-time timers fire first.
    pub fn advance_watermark(&mut self, watermark: Timestamp) -> Result<Bundle, BoxError> {
        self.move_watermark(watermark)?;
        self.op.take_output()
    }

    fn move_watermark(&mut self, watermark: Timestamp) -> Result<(), BoxError> {
        if self.time_sorted {
            self.release_held(watermark)?;
        }
        self.advance_to(watermark)
    }

    /// Moves the input watermark to `watermark` (if later): fires the event-time timers it
    /// passes and expires the windows it passes.
    fn advance_to(&mut self, watermark: Timestamp) -> Result<(), BoxError> {
        if watermark <= self.input_watermark {
            return Ok(());
        }
        self.input_watermark = watermark;
        self.fire_event_timers()?;
        if watermark == Timestamp::MAX {
            // The end of input: processing time will not move again. What is pending fires
            // once; timers those callbacks set are dropped with their windows.
            let pending = self.processing_timer_count();
            for _ in 0..pending {
                match self
                    .store
                    .pop_due_timer(TimeDomain::ProcessingTime, Timestamp::MAX)
                {
                    Some((id, timer)) => self.fire(id, timer)?,
                    None => break,
                }
                self.fire_event_timers()?;
            }
        }
        if self.store.has_expired(watermark) {
            self.expire(watermark)?;
        }
        Ok(())
    }

    fn processing_timer_count(&self) -> usize {
        // The store does not count per clock; an upper bound is enough here.
        self.store.timer_count()
    }

    /// Drops the windows the watermark has passed the expiry of, after `on_window_expiration`.
    fn expire(&mut self, watermark: Timestamp) -> Result<(), BoxError> {
        for id in self.store.expired(watermark) {
            let expiry = self.strategy.expiry(&id.1);
            if self.kernel.has_window_expiration() {
                let slot = self.store.slot(&id);
                if !slot.contents.is_empty() {
                    let scope = StateScope {
                        slot: &mut slot.contents,
                        timers: &mut self.ops,
                        window: id.1,
                        expiry,
                        processing_time: self.processing_time,
                    };
                    self.op.on_window_expiration(&id.0, scope)?;
                    // The window is gone: timers set now would never fire.
                    self.ops.clear();
                }
            }
            self.store.remove(&id);
        }
        Ok(())
    }

    /// Advances processing time: fires the processing-time timers due, in order.
    pub fn advance_processing_time(&mut self, now: Timestamp) -> Result<Bundle, BoxError> {
        if now > self.processing_time {
            self.processing_time = now;
            while let Some((id, timer)) = self.store.pop_due_timer(TimeDomain::ProcessingTime, now)
            {
                self.fire(id, timer)?;
            }
        }
        self.op.take_output()
    }

    /// Runs one shard of bounded input, each key on its own: its elements as they arrived,
    /// then its timers; or, for time-sorted input, its elements in timestamp order with its
    /// watermark following them (see the [module documentation](self)).
    pub fn run_bounded(&mut self, mut records: Vec<KeyedRecord>) -> Result<Bundle, BoxError> {
        if self.time_sorted {
            sort_by_key_and_time(&mut records);
        } else {
            group_by_key_in_arrival_order(&mut records);
        }
        let mut start = 0;
        while start < records.len() {
            let key = &records[start].key;
            let len = records[start..]
                .iter()
                .position(|r| r.key != *key)
                .unwrap_or(records.len() - start);
            self.process_runs(&records[start..start + len], self.time_sorted)?;
            self.advance_to(Timestamp::MAX)?;
            debug_assert!(self.store.is_empty(), "every window expires at the end");
            self.input_watermark = Timestamp::MIN;
            start += len;
        }
        self.op.take_output()
    }

    /// How far this runner holds its output watermark: the earliest output timestamp of a
    /// pending timer.
    pub fn hold(&self) -> Option<Timestamp> {
        match (self.store.hold(), self.held.earliest()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sets the arrival number of the records processed from now on.
    pub fn set_arrival(&mut self, sequence: u64) {
        self.arrival = sequence;
    }

    /// The smallest arrival number of a record whose effect may live only in the store.
    pub fn oldest_unemitted(&self) -> Option<u64> {
        match (self.store.oldest_unemitted(), self.held.oldest_arrival()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Records dropped because their window had expired.
    pub fn dropped_due_to_lateness(&self) -> u64 {
        self.dropped_late
    }

    /// How many (key, window) pairs hold state or timers.
    pub fn slot_count(&self) -> usize {
        self.store.len()
    }

    /// How many elements are held back until the watermark reaches them.
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// About how many bytes its state takes, encoded (sampled).
    pub fn estimated_state_bytes(&self) -> u64 {
        self.store.estimated_bytes(crate::gabw::STATE_SAMPLE)
    }

    /// The store, for snapshots.
    pub fn store(&self) -> &KeyedStore {
        &self.store
    }

    /// The store, encoded, with the times the runner had reached: what a checkpoint keeps.
    pub fn snapshot(&self) -> Result<KeyedSnapshot, sluice_sdk::element::CoderError> {
        Ok(KeyedSnapshot {
            store: self.store.snapshot()?,
            input_watermark: self.input_watermark,
            processing_time: self.processing_time,
            held_input: self.held.snapshot(),
        })
    }

    /// Goes on from `snapshot`, taken of a runner of the same transform: the store's state
    /// cells and timers come back, and the DoFn (set up anew) sees them as it left them.
    pub fn restore(&mut self, snapshot: KeyedSnapshot) -> Result<(), BoxError> {
        let declarations = self.kernel.declarations();
        self.store = KeyedStore::restore(snapshot.store, |b| {
            crate::state::store::decode_state_slot(b, declarations)
        })?;
        self.input_watermark = snapshot.input_watermark;
        self.processing_time = snapshot.processing_time;
        self.held = SortedInput::restore(snapshot.held_input);
        Ok(())
    }

    /// Takes the metrics the DoFn reported.
    pub fn take_metrics(&mut self) -> MetricsContainer {
        self.op.take_metrics()
    }

    /// Tears the DoFn down.
    pub fn teardown(&mut self) {
        self.op.teardown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::element::{EncodedBytes, EncodedKey};
    use sluice_sdk::graph::kernel::RecordKind;

    fn record(key: u32, secs: i64, tag: u8) -> KeyedRecord {
        KeyedRecord {
            key: EncodedKey::of(&key).unwrap(),
            payload: EncodedBytes::from_slice(&[tag]),
            kind: RecordKind::Value,
            timestamp: Timestamp::from_secs(secs),
            window: Window::Global,
        }
    }

    #[test]
    fn records_come_together_by_key_in_time_order() {
        // 60 records over 7 keys, times scrambled, with ties.
        let mut records: Vec<KeyedRecord> = (0..60u8)
            .map(|i| record(u32::from(i % 7), (i64::from(i) * 37) % 11, i))
            .collect();
        sort_by_key_and_time(&mut records);
        for pair in records.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if a.key == b.key {
                assert!(a.timestamp <= b.timestamp, "in time order");
            }
        }
        let keys: Vec<u32> = records.iter().map(|r| r.key.decode().unwrap()).collect();
        let mut seen = Vec::new();
        for k in keys {
            if seen.last() != Some(&k) {
                assert!(!seen.contains(&k), "key {k} comes in one run");
                seen.push(k);
            }
        }
        assert_eq!(seen.len(), 7);
        let mut tags: Vec<u8> = records.iter().map(|r| r.payload[0]).collect();
        tags.sort_unstable();
        assert_eq!(tags, (0..60).collect::<Vec<u8>>(), "every record once");
    }

    #[test]
    fn grouping_by_key_keeps_the_order_of_arrival() {
        let mut records: Vec<KeyedRecord> = (0..40u8)
            .map(|i| record(u32::from(i % 3), 40 - i64::from(i), i))
            .collect();
        group_by_key_in_arrival_order(&mut records);
        for pair in records.windows(2) {
            if pair[0].key == pair[1].key {
                assert!(pair[0].payload[0] < pair[1].payload[0]);
            }
        }
    }
}

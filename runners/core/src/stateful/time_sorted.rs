//! Time-sorted input: the elements a stateful DoFn that
//! [requires time-sorted input](sluice_sdk::stateful::StatefulDoFn::requires_time_sorted_input)
//! has not seen yet, held back until the input watermark reaches them.
//!
//! The runner puts each element ahead of the watermark into a [`SortedInput`]; as the watermark
//! advances it takes them out in timestamp order ([`SortedInput::pop_until`]) and, before each
//! one, fires the event-time timers due by then. Held elements hold the output watermark (their
//! outputs carry their timestamps) and go into a checkpoint with the store.

use super::super::state::RecordSnapshot;
use sluice_sdk::element::{EncodedBytes, EncodedKey};
use sluice_sdk::graph::kernel::{KeyedRecord, RecordKind};
use sluice_sdk::time::Timestamp;
use std::collections::BTreeMap;

/// An element held back, with the arrival number it came with.
struct Held {
    record: KeyedRecord,
    arrival: u64,
}

/// Elements not yet processed, in timestamp order (equal timestamps in arrival order).
#[derive(Default)]
pub(super) struct SortedInput {
    held: BTreeMap<(Timestamp, u64), Held>,
    /// Tells apart elements of equal timestamps, in the order they came.
    next: u64,
}

impl SortedInput {
    /// Holds `record` back; `arrival` is what the runner stamps on its effects.
    pub fn push(&mut self, record: KeyedRecord, arrival: u64) {
        self.held
            .insert((record.timestamp, self.next), Held { record, arrival });
        self.next += 1;
    }

    /// The earliest element held with a timestamp at most `limit`, taken out with its arrival
    /// number.
    pub fn pop_until(&mut self, limit: Timestamp) -> Option<(KeyedRecord, u64)> {
        let entry = self.held.first_entry()?;
        if entry.key().0 > limit {
            return None;
        }
        let held = entry.remove();
        Some((held.record, held.arrival))
    }

    /// The timestamp of the earliest element held.
    pub fn earliest(&self) -> Option<Timestamp> {
        self.held.first_key_value().map(|((t, _), _)| *t)
    }

    /// The smallest arrival number of an element held.
    pub fn oldest_arrival(&self) -> Option<u64> {
        self.held.values().map(|h| h.arrival).min()
    }

    /// How many elements are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// The elements held, encoded, in order.
    pub fn snapshot(&self) -> Vec<RecordSnapshot> {
        self.held
            .values()
            .map(|h| RecordSnapshot {
                key: h.record.key.bytes().to_vec(),
                payload: h.record.payload.to_vec(),
                timestamp: h.record.timestamp,
                window: h.record.window,
                arrival: h.arrival,
            })
            .collect()
    }

    /// Holds the elements of a snapshot, in their order.
    pub fn restore(records: Vec<RecordSnapshot>) -> Self {
        let mut input = SortedInput::default();
        for r in records {
            let record = KeyedRecord {
                key: EncodedKey::from_bytes(r.key),
                payload: EncodedBytes::from_vec(r.payload),
                kind: RecordKind::Value,
                timestamp: r.timestamp,
                window: r.window,
            };
            input.push(record, r.arrival);
        }
        input
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::window::Window;

    fn record(key: &str, secs: i64) -> KeyedRecord {
        KeyedRecord {
            key: EncodedKey::of(&key.to_string()).unwrap(),
            payload: EncodedBytes::from_slice(&[secs as u8]),
            kind: RecordKind::Value,
            timestamp: Timestamp::from_secs(secs),
            window: Window::Global,
        }
    }

    #[test]
    fn elements_come_out_in_timestamp_then_arrival_order_up_to_the_limit() {
        let mut input = SortedInput::default();
        for (i, (k, t)) in [("a", 30), ("b", 10), ("a", 10), ("c", 20)]
            .iter()
            .enumerate()
        {
            input.push(record(k, *t), i as u64);
        }
        assert_eq!(input.earliest(), Some(Timestamp::from_secs(10)));
        let mut out = Vec::new();
        while let Some((r, arrival)) = input.pop_until(Timestamp::from_secs(20)) {
            out.push((
                r.key.decode::<String>().unwrap(),
                r.timestamp.as_secs(),
                arrival,
            ));
        }
        assert_eq!(
            out,
            vec![
                ("b".into(), 10, 1),
                ("a".into(), 10, 2),
                ("c".into(), 20, 3)
            ]
        );
        assert_eq!(input.len(), 1);
        assert_eq!(input.oldest_arrival(), Some(0));
    }

    #[test]
    fn a_snapshot_restores_the_same_elements_in_the_same_order() {
        let mut input = SortedInput::default();
        input.push(record("a", 5), 7);
        input.push(record("b", 5), 3);
        input.push(record("a", 1), 9);
        let mut back = SortedInput::restore(input.snapshot());
        let mut order = Vec::new();
        while let Some((r, arrival)) = back.pop_until(Timestamp::MAX) {
            order.push((r.key.decode::<String>().unwrap(), r.payload[0], arrival));
        }
        assert_eq!(
            order,
            vec![("a".into(), 1, 9), ("a".into(), 5, 7), ("b".into(), 5, 3)]
        );
    }
}

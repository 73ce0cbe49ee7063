//! The keyed store: state cells and timers by (encoded key, window).

use super::timers::{PendingTimer, TimerQueue};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sluice_sdk::element::{CoderError, EncodedKey};
use sluice_sdk::state::{Declarations, StateId, StateSlot, TimeDomain, TimerOp};
use sluice_sdk::time::Timestamp;
use sluice_sdk::window::Window;
use std::collections::BTreeMap;

/// Everything the store keeps for one (key, window).
#[derive(Default)]
pub struct Slot {
    /// The state cells.
    pub state: StateSlot,
    /// The timers waiting to fire.
    pub timers: Vec<PendingTimer>,
    /// The arrival number of the oldest read whose effect may live only here (see
    /// [`KeyedStore::oldest_unemitted`]).
    pub unemitted_since: Option<u64>,
}

impl Slot {
    fn is_empty(&self) -> bool {
        self.timers.is_empty() && self.state.is_empty()
    }
}

/// The state and timers of every key and window of one shard.
///
/// Cells stay typed in memory; [`snapshot`](Self::snapshot) encodes them. A (key, window)
/// whose cells are empty and that has no pending timer is forgotten, so the store holds what
/// live keys hold, not what the input held.
#[derive(Default)]
pub struct KeyedStore {
    slots: FxHashMap<(EncodedKey, Window), Slot>,
    timers: TimerQueue,
    /// How many slots each window has, ordered by the window's expiry: expiring windows are
    /// found without scanning the slots.
    windows: BTreeMap<(Timestamp, Window), usize>,
}

impl KeyedStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The slot of `(key, window)`, created empty if there is none; `expiry` is the window's
    /// expiry.
    pub fn slot(&mut self, id: &(EncodedKey, Window), expiry: Timestamp) -> &mut Slot {
        if !self.slots.contains_key(id) {
            self.slots.insert(id.clone(), Slot::default());
            *self.windows.entry((expiry, id.1)).or_default() += 1;
        }
        self.slots.get_mut(id).expect("inserted above")
    }

    /// Applies the timer requests of a call on `(key, window)`, emptying `ops`.
    pub fn apply_timer_ops(
        &mut self,
        id: &(EncodedKey, Window),
        expiry: Timestamp,
        ops: &mut Vec<TimerOp>,
        declarations: &Declarations,
    ) {
        if ops.is_empty() {
            return;
        }
        self.slot(id, expiry);
        let slot = self.slots.get_mut(id).expect("created above");
        for op in ops.drain(..) {
            let (timer, tag) = match &op {
                TimerOp::Set { timer, tag, .. } | TimerOp::Clear { timer, tag } => (*timer, tag),
            };
            if let Some(i) = slot
                .timers
                .iter()
                .position(|t| t.timer == timer && t.tag == *tag)
            {
                let old = slot.timers.swap_remove(i);
                self.timers.remove(&old);
            }
            if let TimerOp::Set {
                timer,
                tag,
                at,
                output_timestamp,
            } = op
            {
                let pending = PendingTimer {
                    timer,
                    tag,
                    domain: declarations.timers()[timer.0 as usize].domain,
                    at,
                    output_timestamp,
                    seq: self.timers.next_seq(),
                };
                self.timers.insert(&id.0, id.1, &pending);
                slot.timers.push(pending);
            }
        }
    }

    /// Forgets `(key, window)` if it holds no state and no timer.
    pub fn release_if_empty(&mut self, id: &(EncodedKey, Window), expiry: Timestamp) {
        if self.slots.get(id).is_some_and(Slot::is_empty) {
            self.slots.remove(id);
            self.forget_window(expiry, id.1);
        }
    }

    fn forget_window(&mut self, expiry: Timestamp, window: Window) {
        if let Some(n) = self.windows.get_mut(&(expiry, window)) {
            *n -= 1;
            if *n == 0 {
                self.windows.remove(&(expiry, window));
            }
        }
    }

    /// Takes out the earliest timer due on `domain`'s clock at `limit` (see
    /// [`TimerQueue::next_due`]), with its key and window.
    pub fn pop_due_timer(
        &mut self,
        domain: TimeDomain,
        limit: Timestamp,
    ) -> Option<((EncodedKey, Window), PendingTimer)> {
        let ((at, seq), id) = self.timers.next_due(domain, limit)?;
        let id = id.clone();
        let slot = self.slots.get_mut(&id).expect("a queued timer has a slot");
        let i = slot
            .timers
            .iter()
            .position(|t| t.at == at && t.seq == seq)
            .expect("a queued timer is in its slot");
        let timer = slot.timers.swap_remove(i);
        self.timers.remove(&timer);
        Some((id, timer))
    }

    /// Whether some window expires once the watermark reaches `watermark`.
    pub fn has_expired(&self, watermark: Timestamp) -> bool {
        self.windows
            .first_key_value()
            .is_some_and(|((expiry, _), _)| *expiry < watermark)
    }

    /// The (key, window) pairs whose window expires once the watermark reaches `watermark`.
    pub fn expired(&self, watermark: Timestamp) -> Vec<(EncodedKey, Window)> {
        let windows: Vec<Window> = self
            .windows
            .keys()
            .take_while(|(expiry, _)| *expiry < watermark)
            .map(|(_, w)| *w)
            .collect();
        if windows.is_empty() {
            return Vec::new();
        }
        self.slots
            .keys()
            .filter(|(_, w)| windows.contains(w))
            .cloned()
            .collect()
    }

    /// Removes `(key, window)` with its state and timers.
    pub fn remove(&mut self, id: &(EncodedKey, Window), expiry: Timestamp) {
        if let Some(slot) = self.slots.remove(id) {
            for t in &slot.timers {
                self.timers.remove(t);
            }
            self.forget_window(expiry, id.1);
        }
    }

    /// The earliest output timestamp of a pending timer: the store's watermark hold.
    pub fn hold(&self) -> Option<Timestamp> {
        self.timers.hold()
    }

    /// The smallest arrival number whose effect may still live only in this store.
    pub fn oldest_unemitted(&self) -> Option<u64> {
        self.slots.values().filter_map(|s| s.unemitted_since).min()
    }

    /// How many timers are pending.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }

    /// How many (key, window) pairs hold state or timers.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The whole store, encoded: what a checkpoint keeps.
    pub fn snapshot(&self) -> Result<StoreSnapshot, CoderError> {
        let mut slots = Vec::with_capacity(self.slots.len());
        for ((key, window), slot) in &self.slots {
            slots.push(SlotSnapshot {
                key: key.bytes().to_vec(),
                window: *window,
                cells: slot
                    .state
                    .encode()?
                    .into_iter()
                    .map(|(id, b)| (id.0, b))
                    .collect(),
                timers: slot.timers.clone(),
            });
        }
        Ok(StoreSnapshot { slots })
    }

    /// A store holding what `snapshot` captured; `expiry` gives each window's expiry.
    pub fn restore(
        snapshot: StoreSnapshot,
        declarations: &Declarations,
        expiry: impl Fn(&Window) -> Timestamp,
    ) -> Result<Self, CoderError> {
        let mut store = KeyedStore::new();
        for s in snapshot.slots {
            let cells: Vec<(StateId, Vec<u8>)> =
                s.cells.into_iter().map(|(i, b)| (StateId(i), b)).collect();
            let id = (EncodedKey::from_bytes(s.key), s.window);
            let state = StateSlot::decode(&cells, declarations.states())?;
            for t in &s.timers {
                store.timers.insert(&id.0, id.1, t);
                store.timers.next_seq = store.timers.next_seq.max(t.seq);
            }
            *store.windows.entry((expiry(&id.1), id.1)).or_default() += 1;
            store.slots.insert(
                id,
                Slot {
                    state,
                    timers: s.timers,
                    unemitted_since: None,
                },
            );
        }
        Ok(store)
    }
}

/// The encoded contents of a [`KeyedStore`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreSnapshot {
    /// Every (key, window) with state or timers.
    pub slots: Vec<SlotSnapshot>,
}

/// The encoded contents of one (key, window).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotSnapshot {
    /// The encoded key.
    pub key: Vec<u8>,
    /// The window.
    pub window: Window,
    /// The non-empty cells, by state id, encoded.
    pub cells: Vec<(u32, Vec<u8>)>,
    /// The pending timers.
    pub timers: Vec<PendingTimer>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::state::{BagCell, BagState, StateHandle, TimerId};

    fn key(k: &str) -> EncodedKey {
        EncodedKey::of(&k.to_string()).unwrap()
    }

    fn set(timer: u32, tag: &str, at: i64, output: i64) -> TimerOp {
        TimerOp::Set {
            timer: TimerId(timer),
            tag: tag.into(),
            at: Timestamp::from_secs(at),
            output_timestamp: Timestamp::from_secs(output),
        }
    }

    fn declarations() -> (Declarations, BagState<i64>) {
        let mut d = Declarations::new();
        let bag = d.bag("bag");
        d.timer("t", TimeDomain::EventTime);
        d.timer_family("f", TimeDomain::EventTime);
        d.timer("p", TimeDomain::ProcessingTime);
        (d, bag)
    }

    #[test]
    fn timers_fire_in_time_order_and_setting_again_moves_them() {
        let (d, _) = declarations();
        let mut store = KeyedStore::new();
        let end = Timestamp::END_OF_GLOBAL_WINDOW;
        let a = (key("a"), Window::Global);
        let b = (key("b"), Window::Global);
        store.apply_timer_ops(
            &a,
            end,
            &mut vec![set(0, "", 30, 30), set(1, "x", 20, 5)],
            &d,
        );
        store.apply_timer_ops(&b, end, &mut vec![set(0, "", 10, 10)], &d);
        // Moving a's plain timer from 30 to 15; a second tag of the family is another timer.
        store.apply_timer_ops(
            &a,
            end,
            &mut vec![set(0, "", 15, 15), set(1, "y", 25, 25)],
            &d,
        );
        assert_eq!(store.hold(), Some(Timestamp::from_secs(5)));
        let mut fired = Vec::new();
        while let Some((id, t)) =
            store.pop_due_timer(TimeDomain::EventTime, Timestamp::from_secs(26))
        {
            fired.push((id.0.decode::<String>().unwrap(), t.tag, t.at.as_secs()));
        }
        assert_eq!(
            fired,
            vec![
                ("b".into(), String::new(), 10),
                ("a".into(), String::new(), 15),
                ("a".into(), "x".into(), 20),
                ("a".into(), "y".into(), 25)
            ]
        );
        assert_eq!(store.hold(), None);
        // Slots without state or timers are forgotten.
        store.release_if_empty(&a, end);
        store.release_if_empty(&b, end);
        assert!(store.is_empty());
    }

    #[test]
    fn clearing_a_timer_cancels_it_and_processing_timers_fire_at_their_time() {
        let (d, _) = declarations();
        let mut store = KeyedStore::new();
        let end = Timestamp::END_OF_GLOBAL_WINDOW;
        let a = (key("a"), Window::Global);
        store.apply_timer_ops(
            &a,
            end,
            &mut vec![set(0, "", 10, 10), set(2, "", 100, 3)],
            &d,
        );
        store.apply_timer_ops(
            &a,
            end,
            &mut vec![TimerOp::Clear {
                timer: TimerId(0),
                tag: String::new(),
            }],
            &d,
        );
        assert!(
            store
                .pop_due_timer(TimeDomain::EventTime, Timestamp::MAX)
                .is_none()
        );
        assert!(
            store
                .pop_due_timer(TimeDomain::ProcessingTime, Timestamp::from_secs(99))
                .is_none()
        );
        let (_, t) = store
            .pop_due_timer(TimeDomain::ProcessingTime, Timestamp::from_secs(100))
            .unwrap();
        assert_eq!(t.output_timestamp, Timestamp::from_secs(3));
    }

    #[test]
    fn expired_windows_are_found_and_removed_with_their_timers() {
        let (d, bag) = declarations();
        let mut store = KeyedStore::new();
        let w = |s: i64| Window::interval(Timestamp::from_secs(s), Timestamp::from_secs(s + 10));
        let expiry = |s: i64| w(s).max_timestamp();
        for (k, s) in [("a", 0), ("b", 0), ("a", 10)] {
            let id = (key(k), w(s));
            store
                .slot(&id, expiry(s))
                .state
                .open::<BagCell<i64>>(bag.id(), d.states())
                .add(1);
            store.apply_timer_ops(&id, expiry(s), &mut vec![set(0, "", s + 5, s + 5)], &d);
        }
        assert!(!store.has_expired(w(0).max_timestamp()));
        let mut expired = store.expired(Timestamp::from_secs(11));
        expired.sort();
        assert_eq!(expired.len(), 2);
        for id in &expired {
            store.remove(id, expiry(0));
        }
        assert_eq!(store.len(), 1);
        assert_eq!(store.timer_count(), 1);
        assert!(!store.has_expired(Timestamp::from_secs(11)));
    }

    #[test]
    fn a_snapshot_restores_cells_and_timers() {
        let (d, bag) = declarations();
        let mut store = KeyedStore::new();
        let end = Timestamp::END_OF_GLOBAL_WINDOW;
        let a = (key("a"), Window::Global);
        store
            .slot(&a, end)
            .state
            .open::<BagCell<i64>>(bag.id(), d.states())
            .add(42);
        store.apply_timer_ops(&a, end, &mut vec![set(0, "", 7, 7)], &d);
        let snapshot = store.snapshot().unwrap();
        let bytes = sluice_sdk::element::encode(&snapshot).unwrap();
        let back: StoreSnapshot = sluice_sdk::element::decode(&bytes).unwrap();
        let mut restored = KeyedStore::restore(back, &d, |_| end).unwrap();
        assert_eq!(restored.snapshot().unwrap(), snapshot);
        assert_eq!(restored.hold(), Some(Timestamp::from_secs(7)));
        let cell = restored
            .slot(&a, end)
            .state
            .open::<BagCell<i64>>(bag.id(), d.states());
        assert_eq!(cell.read(), [42]);
        assert!(
            restored
                .pop_due_timer(TimeDomain::EventTime, Timestamp::MAX)
                .is_some()
        );
    }
}

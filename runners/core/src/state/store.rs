//! The keyed store: what a keyed transform keeps per (encoded key, window), and its timers.

use super::timers::{PendingTimer, TimerQueue};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sluice_sdk::element::{CoderError, EncodedKey};
use sluice_sdk::state::{Declarations, StateId, StateSlot, TimeDomain, TimerOp};
use sluice_sdk::time::{Duration, Timestamp};
use sluice_sdk::window::Window;
use std::collections::BTreeMap;
use std::collections::hash_map::Entry;

/// What a transform keeps for one (key, window) besides its timers: a stateful DoFn's state
/// cells ([`StateSlot`]), or a grouping's buffered values, trigger state and pane counters.
pub trait SlotContents: Send {
    /// Whether nothing is kept: a slot with empty contents and no timer may be forgotten.
    fn is_empty(&self) -> bool;
    /// The contents, encoded for a snapshot.
    fn encode(&self) -> Result<Vec<u8>, CoderError>;
}

impl SlotContents for StateSlot {
    fn is_empty(&self) -> bool {
        StateSlot::is_empty(self)
    }
    fn encode(&self) -> Result<Vec<u8>, CoderError> {
        let cells: Vec<(u32, Vec<u8>)> = StateSlot::encode(self)?
            .into_iter()
            .map(|(id, b)| (id.0, b))
            .collect();
        sluice_sdk::element::encode(&cells)
    }
}

/// Decodes the state cells of a [`StateSlot`] encoded by its [`SlotContents::encode`].
pub fn decode_state_slot(
    bytes: &[u8],
    declarations: &Declarations,
) -> Result<StateSlot, CoderError> {
    let cells: Vec<(u32, Vec<u8>)> = sluice_sdk::element::decode(bytes)?;
    let cells: Vec<(StateId, Vec<u8>)> = cells.into_iter().map(|(i, b)| (StateId(i), b)).collect();
    StateSlot::decode(&cells, declarations.states())
}

/// Everything the store keeps for one (key, window).
pub struct Slot<C> {
    /// The transform's contents.
    pub contents: C,
    /// The timers waiting to fire.
    pub timers: Vec<PendingTimer>,
    /// The arrival number of the oldest read whose effect may live only here (see
    /// [`KeyedStore::oldest_unemitted`]).
    pub unemitted_since: Option<u64>,
}

impl<C> Slot<C> {
    /// A slot holding `contents`, with no timer.
    pub fn new(contents: C) -> Self {
        Slot {
            contents,
            timers: Vec::new(),
            unemitted_since: None,
        }
    }
}

impl<C: SlotContents> Slot<C> {
    fn is_empty(&self) -> bool {
        self.timers.is_empty() && self.contents.is_empty()
    }
}

/// The (key, window) slots of one shard of a keyed transform, with their timers.
///
/// Contents stay typed in memory; [`snapshot`](Self::snapshot) encodes them. A stateful DoFn's
/// slot whose cells are empty and that has no pending timer is forgotten, so the store holds
/// what live keys hold, not what the input held. Windows are indexed by their end (one entry
/// per window, not per key): the windows whose end or expiry the watermark passes are found
/// without scanning the slots.
pub struct KeyedStore<C = StateSlot> {
    slots: FxHashMap<(EncodedKey, Window), Slot<C>>,
    timers: TimerQueue,
    /// How many slots each window has, ordered by the window's maximum timestamp. A window's
    /// expiry grows with its end, so this is also the order of expiry.
    windows: BTreeMap<(Timestamp, Window), usize>,
    allowed_lateness: Duration,
}

impl<C: SlotContents> KeyedStore<C> {
    /// An empty store for windows that expire `allowed_lateness` after their end.
    pub fn new(allowed_lateness: Duration) -> Self {
        KeyedStore {
            slots: FxHashMap::default(),
            timers: TimerQueue::default(),
            windows: BTreeMap::new(),
            allowed_lateness,
        }
    }

    /// When `window` expires (see [`Window::expiry`]).
    pub fn expiry(&self, window: &Window) -> Timestamp {
        window.expiry(self.allowed_lateness)
    }

    /// The slot of `(key, window)`, created with `make` if there is none.
    pub fn slot_or_insert_with(
        &mut self,
        id: &(EncodedKey, Window),
        make: impl FnOnce() -> C,
    ) -> &mut Slot<C> {
        if !self.slots.contains_key(id) {
            return self.slot_owned(id.clone(), make);
        }
        self.slots.get_mut(id).expect("checked above")
    }

    /// The slot of `id`, created with `make` if there is none; takes the key by value, so
    /// that a new slot costs no copy of it.
    pub fn slot_owned(
        &mut self,
        id: (EncodedKey, Window),
        make: impl FnOnce() -> C,
    ) -> &mut Slot<C> {
        let window = id.1;
        match self.slots.entry(id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                count_window(&mut self.windows, window);
                e.insert(Slot::new(make()))
            }
        }
    }

    /// The slot of `(key, window)`, if it has one.
    pub fn get_mut(&mut self, id: &(EncodedKey, Window)) -> Option<&mut Slot<C>> {
        self.slots.get_mut(id)
    }

    /// Whether `(key, window)` has a slot.
    pub fn contains(&self, id: &(EncodedKey, Window)) -> bool {
        self.slots.contains_key(id)
    }

    /// Puts `slot` in place for `id` (replacing any slot it had), with its timers.
    pub fn insert(&mut self, id: (EncodedKey, Window), slot: Slot<C>) {
        for t in &slot.timers {
            self.timers.insert(&id.0, id.1, t);
        }
        let window = id.1;
        if let Some(old) = self.slots.insert(id, slot) {
            for t in &old.timers {
                self.timers.remove(t);
            }
        } else {
            count_window(&mut self.windows, window);
        }
    }

    /// Takes out the slot of `id` with its timers.
    pub fn remove(&mut self, id: &(EncodedKey, Window)) -> Option<Slot<C>> {
        let slot = self.slots.remove(id)?;
        for t in &slot.timers {
            self.timers.remove(t);
        }
        self.forget_window(id.1);
        Some(slot)
    }

    /// Keeps the slots for which `keep` returns true and drops the others with their timers.
    pub fn retain(&mut self, mut keep: impl FnMut(&(EncodedKey, Window), &mut Slot<C>) -> bool) {
        let mut dropped: Vec<Window> = Vec::new();
        let timers = &mut self.timers;
        self.slots.retain(|id, slot| {
            let kept = keep(id, slot);
            if !kept {
                for t in &slot.timers {
                    timers.remove(t);
                }
                dropped.push(id.1);
            }
            kept
        });
        for w in dropped {
            self.forget_window(w);
        }
    }

    /// Applies the timer requests of a call on `(key, window)`, emptying `ops`.
    pub fn apply_timer_ops(
        &mut self,
        id: &(EncodedKey, Window),
        ops: &mut Vec<TimerOp>,
        declarations: &Declarations,
        make: impl FnOnce() -> C,
    ) {
        if ops.is_empty() {
            return;
        }
        self.slot_or_insert_with(id, make);
        let slot = self.slots.get_mut(id).expect("created above");
        apply_ops(&mut self.timers, id, slot, ops, declarations);
    }

    /// Runs `call` on the slot of `id` (made with `make` if there is none), then applies the
    /// timer requests `call` left in `ops` and forgets the slot if that leaves it empty: one
    /// look-up of the slot where [`slot_owned`](Self::slot_owned),
    /// [`apply_timer_ops`](Self::apply_timer_ops) and
    /// [`release_if_empty`](Self::release_if_empty) would take several.
    pub fn call_on<R>(
        &mut self,
        id: (EncodedKey, Window),
        ops: &mut Vec<TimerOp>,
        declarations: &Declarations,
        make: impl FnOnce() -> C,
        call: impl FnOnce(&mut Slot<C>, &mut Vec<TimerOp>) -> R,
    ) -> R {
        let window = id.1;
        let mut entry = match self.slots.entry(id) {
            Entry::Occupied(e) => e,
            Entry::Vacant(e) => {
                count_window(&mut self.windows, window);
                e.insert_entry(Slot::new(make()))
            }
        };
        let result = call(entry.get_mut(), ops);
        if !ops.is_empty() {
            let id = entry.key().clone();
            apply_ops(&mut self.timers, &id, entry.get_mut(), ops, declarations);
        }
        if entry.get().is_empty() {
            entry.remove();
            self.forget_window(window);
        }
        result
    }

    /// Forgets `(key, window)` if it holds nothing and has no timer.
    pub fn release_if_empty(&mut self, id: &(EncodedKey, Window)) {
        if self.slots.get(id).is_some_and(Slot::is_empty) {
            self.slots.remove(id);
            self.forget_window(id.1);
        }
    }

    fn forget_window(&mut self, window: Window) {
        let entry = (window.max_timestamp(), window);
        if let Some(n) = self.windows.get_mut(&entry) {
            *n -= 1;
            if *n == 0 {
                self.windows.remove(&entry);
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

    /// The earliest time the watermark must pass before something of this store is due: a
    /// pending event-time timer fires, or a window expires.
    pub fn next_event(&self) -> Option<Timestamp> {
        let timer = self.timers.next_event_time();
        let expiry = self
            .windows
            .first_key_value()
            .map(|((_, w), _)| self.expiry(w));
        match (timer, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether some window expires once the watermark reaches `watermark`.
    pub fn has_expired(&self, watermark: Timestamp) -> bool {
        self.windows
            .first_key_value()
            .is_some_and(|((_, w), _)| self.expiry(w) < watermark)
    }

    /// The windows whose state the watermark moving from `from` to `to` concerns: those whose
    /// end it passes (`from <= max timestamp < to`) and those that expire (expiry `< to`).
    pub fn windows_passed(&self, from: Timestamp, to: Timestamp) -> Vec<Window> {
        self.windows
            .keys()
            .take_while(|(end, _)| *end < to)
            .filter(|(end, w)| *end >= from || self.expiry(w) < to)
            .map(|(_, w)| *w)
            .collect()
    }

    /// The (key, window) pairs whose window expires once the watermark reaches `watermark`.
    pub fn expired(&self, watermark: Timestamp) -> Vec<(EncodedKey, Window)> {
        let windows: Vec<Window> = self
            .windows
            .keys()
            .take_while(|(_, w)| self.expiry(w) < watermark)
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

    /// How many (key, window) pairs hold something.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// About how many bytes the store's state takes, encoded: the mean of up to `sample`
    /// slots (key and contents) times the number of slots. For live metrics, not exact.
    pub fn estimated_bytes(&self, sample: usize) -> u64 {
        let mut seen = 0u64;
        let mut bytes = 0u64;
        for ((key, _), slot) in self.slots.iter().take(sample.max(1)) {
            seen += 1;
            bytes +=
                key.bytes().len() as u64 + slot.contents.encode().map_or(0, |c| c.len() as u64);
        }
        if seen == 0 {
            return 0;
        }
        bytes * self.slots.len() as u64 / seen
    }

    /// The whole store, encoded: what a checkpoint keeps.
    pub fn snapshot(&self) -> Result<StoreSnapshot, CoderError> {
        let mut slots = Vec::with_capacity(self.slots.len());
        for ((key, window), slot) in &self.slots {
            slots.push(SlotSnapshot {
                key: key.bytes().to_vec(),
                window: *window,
                contents: slot.contents.encode()?,
                timers: slot.timers.clone(),
            });
        }
        Ok(StoreSnapshot {
            slots,
            allowed_lateness: self.allowed_lateness,
        })
    }

    /// A store holding what `snapshot` captured; `decode` rebuilds each slot's contents.
    pub fn restore(
        snapshot: StoreSnapshot,
        mut decode: impl FnMut(&[u8]) -> Result<C, CoderError>,
    ) -> Result<Self, CoderError> {
        let mut store = KeyedStore::new(snapshot.allowed_lateness);
        for s in snapshot.slots {
            let id = (EncodedKey::from_bytes(s.key), s.window);
            for t in &s.timers {
                store.timers.next_seq = store.timers.next_seq.max(t.seq);
            }
            let slot = Slot {
                contents: decode(&s.contents)?,
                timers: s.timers,
                unemitted_since: None,
            };
            store.insert(id, slot);
        }
        Ok(store)
    }
}

impl KeyedStore<StateSlot> {
    /// The state cells of `(key, window)`, created empty if there are none.
    pub fn slot(&mut self, id: &(EncodedKey, Window)) -> &mut Slot<StateSlot> {
        self.slot_or_insert_with(id, StateSlot::new)
    }
}

/// Applies the timer requests `ops` of a call on `id` to its `slot` and to the store's
/// `timers`, emptying `ops`: a timer set again or cleared leaves the queue first.
fn apply_ops<C>(
    timers: &mut TimerQueue,
    id: &(EncodedKey, Window),
    slot: &mut Slot<C>,
    ops: &mut Vec<TimerOp>,
    declarations: &Declarations,
) {
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
            timers.remove(&old);
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
                seq: timers.next_seq(),
            };
            timers.insert(&id.0, id.1, &pending);
            slot.timers.push(pending);
        }
    }
}

/// Counts one more slot of `window` in the store's window index.
fn count_window(windows: &mut BTreeMap<(Timestamp, Window), usize>, window: Window) {
    *windows.entry((window.max_timestamp(), window)).or_default() += 1;
}

/// What a checkpoint keeps of a keyed node's shard (a grouping or a stateful ParDo): its store
/// and the times it had reached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyedSnapshot {
    /// The (key, window) slots: contents and timers.
    pub store: StoreSnapshot,
    /// The input watermark.
    pub input_watermark: Timestamp,
    /// The processing time.
    pub processing_time: Timestamp,
    /// Elements held back until the watermark reaches them (a stateful DoFn that requires
    /// time-sorted input), in order; empty for a grouping.
    pub held_input: Vec<RecordSnapshot>,
}

/// A keyed element held back by a runner, encoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordSnapshot {
    /// The encoded key.
    pub key: Vec<u8>,
    /// The encoded value.
    pub payload: Vec<u8>,
    /// Its timestamp.
    pub timestamp: Timestamp,
    /// Its window.
    pub window: Window,
    /// The arrival number its effects carry.
    pub arrival: u64,
}

/// The encoded contents of a [`KeyedStore`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreSnapshot {
    /// Every (key, window) with state or timers.
    pub slots: Vec<SlotSnapshot>,
    /// How long after their end the windows expire.
    pub allowed_lateness: Duration,
}

/// The encoded contents of one (key, window).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotSnapshot {
    /// The encoded key.
    pub key: Vec<u8>,
    /// The window.
    pub window: Window,
    /// The slot's contents, encoded by [`SlotContents::encode`].
    pub contents: Vec<u8>,
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
        let mut store = KeyedStore::new(Duration::ZERO);
        let a = (key("a"), Window::Global);
        let b = (key("b"), Window::Global);
        store.apply_timer_ops(
            &a,
            &mut vec![set(0, "", 30, 30), set(1, "x", 20, 5)],
            &d,
            StateSlot::new,
        );
        store.apply_timer_ops(&b, &mut vec![set(0, "", 10, 10)], &d, StateSlot::new);
        // Moving a's plain timer from 30 to 15; a second tag of the family is another timer.
        store.apply_timer_ops(
            &a,
            &mut vec![set(0, "", 15, 15), set(1, "y", 25, 25)],
            &d,
            StateSlot::new,
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
        store.release_if_empty(&a);
        store.release_if_empty(&b);
        assert!(store.is_empty());
    }

    #[test]
    fn clearing_a_timer_cancels_it_and_processing_timers_fire_at_their_time() {
        let (d, _) = declarations();
        let mut store = KeyedStore::new(Duration::ZERO);
        let a = (key("a"), Window::Global);
        store.apply_timer_ops(
            &a,
            &mut vec![set(0, "", 10, 10), set(2, "", 100, 3)],
            &d,
            StateSlot::new,
        );
        store.apply_timer_ops(
            &a,
            &mut vec![TimerOp::Clear {
                timer: TimerId(0),
                tag: String::new(),
            }],
            &d,
            StateSlot::new,
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
        let mut store = KeyedStore::new(Duration::ZERO);
        let w = |s: i64| Window::interval(Timestamp::from_secs(s), Timestamp::from_secs(s + 10));
        for (k, s) in [("a", 0), ("b", 0), ("a", 10)] {
            let id = (key(k), w(s));
            store
                .slot(&id)
                .contents
                .open::<BagCell<i64>>(bag.id(), d.states())
                .add(1);
            store.apply_timer_ops(&id, &mut vec![set(0, "", s + 5, s + 5)], &d, StateSlot::new);
        }
        assert!(!store.has_expired(w(0).max_timestamp()));
        let mut expired = store.expired(Timestamp::from_secs(11));
        expired.sort();
        assert_eq!(expired.len(), 2);
        for id in &expired {
            store.remove(id);
        }
        assert_eq!(store.len(), 1);
        assert_eq!(store.timer_count(), 1);
        assert!(!store.has_expired(Timestamp::from_secs(11)));
    }

    #[test]
    fn a_snapshot_restores_cells_and_timers() {
        let (d, bag) = declarations();
        let mut store = KeyedStore::new(Duration::ZERO);
        let a = (key("a"), Window::Global);
        store
            .slot(&a)
            .contents
            .open::<BagCell<i64>>(bag.id(), d.states())
            .add(42);
        store.apply_timer_ops(&a, &mut vec![set(0, "", 7, 7)], &d, StateSlot::new);
        let snapshot = store.snapshot().unwrap();
        let bytes = sluice_sdk::element::encode(&snapshot).unwrap();
        let back: StoreSnapshot = sluice_sdk::element::decode(&bytes).unwrap();
        let mut restored = KeyedStore::restore(back, |b| decode_state_slot(b, &d)).unwrap();
        assert_eq!(restored.snapshot().unwrap(), snapshot);
        assert_eq!(restored.hold(), Some(Timestamp::from_secs(7)));
        let cell = restored
            .slot(&a)
            .contents
            .open::<BagCell<i64>>(bag.id(), d.states());
        assert_eq!(cell.read(), [42]);
        assert!(
            restored
                .pop_due_timer(TimeDomain::EventTime, Timestamp::MAX)
                .is_some()
        );
    }
}

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

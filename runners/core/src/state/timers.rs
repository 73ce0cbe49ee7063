//! The timers of a keyed store: one pending firing per (key, window, timer, tag), ordered by
//! time per clock, with the watermark holds of their output timestamps.

use serde::{Deserialize, Serialize};
use sluice_sdk::element::EncodedKey;
use sluice_sdk::state::{TimeDomain, TimerId};
use sluice_sdk::time::Timestamp;
use sluice_sdk::window::Window;
use std::collections::BTreeMap;

/// A timer waiting to fire, kept with the state of its key and window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTimer {
    /// The timer or family.
    pub timer: TimerId,
    /// The dynamic tag (empty for a plain timer).
    pub tag: String,
    /// Its clock.
    pub domain: TimeDomain,
    /// When it fires.
    pub at: Timestamp,
    /// What its outputs carry; holds the output watermark until it fires.
    pub output_timestamp: Timestamp,
    /// Order of setting, which breaks ties between timers set for the same time.
    pub seq: u64,
}

/// Where to find a pending timer: its firing time and sequence number.
type QueueKey = (Timestamp, u64);

/// The pending timers of every key and window, in firing order per clock.
#[derive(Default)]
pub struct TimerQueue {
    event: BTreeMap<QueueKey, (EncodedKey, Window)>,
    processing: BTreeMap<QueueKey, (EncodedKey, Window)>,
    /// Output timestamps of the pending timers, counted.
    holds: BTreeMap<Timestamp, usize>,
    pub(super) next_seq: u64,
}

impl TimerQueue {
    fn queue(&mut self, domain: TimeDomain) -> &mut BTreeMap<QueueKey, (EncodedKey, Window)> {
        match domain {
            TimeDomain::EventTime => &mut self.event,
            TimeDomain::ProcessingTime => &mut self.processing,
        }
    }

    /// A sequence number for a timer set now.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Queues `timer` of `key` and `window`.
    pub fn insert(&mut self, key: &EncodedKey, window: Window, timer: &PendingTimer) {
        self.queue(timer.domain)
            .insert((timer.at, timer.seq), (key.clone(), window));
        *self.holds.entry(timer.output_timestamp).or_default() += 1;
    }

    /// Takes `timer` out of the queue (it fired, was moved, cleared or expired).
    pub fn remove(&mut self, timer: &PendingTimer) {
        self.queue(timer.domain).remove(&(timer.at, timer.seq));
        if let Some(n) = self.holds.get_mut(&timer.output_timestamp) {
            *n -= 1;
            if *n == 0 {
                self.holds.remove(&timer.output_timestamp);
            }
        }
    }

    /// The earliest event-time timer due before `watermark` (one fires once the watermark has
    /// passed it), or the earliest processing-time timer due at or before `now`.
    pub fn next_due(
        &self,
        domain: TimeDomain,
        limit: Timestamp,
    ) -> Option<(QueueKey, &(EncodedKey, Window))> {
        let (k, v) = match domain {
            TimeDomain::EventTime => self.event.first_key_value()?,
            TimeDomain::ProcessingTime => self.processing.first_key_value()?,
        };
        let due = match domain {
            TimeDomain::EventTime => k.0 < limit,
            TimeDomain::ProcessingTime => k.0 <= limit,
        };
        due.then_some((*k, v))
    }

    /// The time of the earliest pending event-time timer.
    pub fn next_event_time(&self) -> Option<Timestamp> {
        self.event.first_key_value().map(|((at, _), _)| *at)
    }

    /// The earliest output timestamp of a pending timer: how far the output watermark is held.
    pub fn hold(&self) -> Option<Timestamp> {
        self.holds.keys().next().copied()
    }

    /// How many timers are pending.
    pub fn len(&self) -> usize {
        self.event.len() + self.processing.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

//! The state of one (key, window) of a grouping, and how it fires a pane.
//!
//! A [`WindowState`] holds the buffered values or accumulator of a (key, window) and its
//! [`Firing`] state: the trigger's state and the pane bookkeeping (counters, pending output
//! timestamp, whether the window is closed or was created late). [`try_fire`] consults the
//! trigger and emits a pane with Beam's timing, index and timestamp rules (see the
//! [grouping's documentation](super)).

use crate::state::{Slot, SlotContents};
use crate::trigger::{TriggerContext, TriggerState};
use serde::{Deserialize, Serialize};
use sluice_sdk::element::{CoderError, EncodedKey};
use sluice_sdk::error::BoxError;
use sluice_sdk::graph::kernel::{GroupKernel, GroupState, PaneOutput};
use sluice_sdk::pane::{PaneInfo, PaneTiming};
use sluice_sdk::time::Timestamp;
use sluice_sdk::trigger::{AccumulationMode, TimestampCombiner, Trigger};
use sluice_sdk::window::Window;
use sluice_sdk::windowing::WindowingStrategy;

/// What a grouping keeps for one (key, window) in its store: the buffered values or
/// accumulator, and what decides when and how the window fires.
pub struct WindowState {
    pub(super) state: Box<dyn GroupState>,
    pub(super) firing: Firing,
}

/// The trigger state and pane bookkeeping of one (key, window).
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Firing {
    pub(super) trigger: TriggerState,
    /// The trigger finished: the window is closed and its state is gone.
    pub(super) closed: bool,
    /// Combined timestamp of the records since the last pane that may hold the output.
    pub(super) pending_timestamp: Option<Timestamp>,
    /// Whether records arrived since the last pane.
    pub(super) has_new_data: bool,
    /// Whether an on-time or late pane was emitted.
    pub(super) fired_non_early: bool,
    /// The window got its first record after the watermark had passed its end: its panes are
    /// late (in Beam, the output watermark is past the window then).
    pub(super) created_late: bool,
    pub(super) pane_index: u64,
    pub(super) non_speculative_index: i64,
}

impl SlotContents for WindowState {
    /// A grouping forgets its windows itself, when they expire.
    fn is_empty(&self) -> bool {
        false
    }

    fn encode(&self) -> Result<Vec<u8>, CoderError> {
        sluice_sdk::element::encode(&(self.state.encode()?, &self.firing))
    }
}

impl WindowState {
    /// The empty state of a window new to the grouping; `created_late` when the watermark
    /// has already passed its end.
    pub(super) fn fresh(kernel: &dyn GroupKernel, trigger: &Trigger, created_late: bool) -> Self {
        WindowState {
            state: kernel.new_state(),
            firing: Firing {
                trigger: TriggerState::new(trigger),
                closed: false,
                pending_timestamp: None,
                has_new_data: false,
                fired_non_early: false,
                created_late,
                pane_index: 0,
                non_speculative_index: 0,
            },
        }
    }

    pub(super) fn decode(kernel: &dyn GroupKernel, bytes: &[u8]) -> Result<Self, CoderError> {
        let (state, firing): (Vec<u8>, Firing) = sluice_sdk::element::decode(bytes)?;
        Ok(WindowState {
            state: kernel.decode_state(&state)?,
            firing,
        })
    }

    /// Takes over the contents of a window merged into this one: buffered values or
    /// accumulator, trigger state, pending output timestamp. Pane counters are not merged:
    /// they belong to a window (see [`super::GroupAlsoByWindow`]'s merging).
    pub(super) fn absorb(
        &mut self,
        other: WindowState,
        combiner: TimestampCombiner,
    ) -> Result<(), BoxError> {
        self.state.merge(other.state)?;
        self.firing.trigger.merge(&other.firing.trigger);
        self.firing.closed |= other.firing.closed;
        self.firing.pending_timestamp = match (
            self.firing.pending_timestamp,
            other.firing.pending_timestamp,
        ) {
            (Some(a), Some(b)) => Some(combiner.combine(a, b)),
            (a, b) => a.or(b),
        };
        self.firing.has_new_data |= other.firing.has_new_data;
        Ok(())
    }

    /// Whether records not yet in a pane hold the output watermark at or before this window's
    /// end: they arrived on time and no on-time pane has fired.
    pub(super) fn holds_before_end(&self) -> bool {
        self.firing.has_new_data && !self.firing.fired_non_early && !self.firing.created_late
    }

    /// Makes this the state of a window that a merge has just created: no pane fired yet.
    /// Its panes are late if the watermark is past its end and nothing merged into it holds
    /// the output watermark back (Beam's output watermark would then be past it).
    pub(super) fn start_as_new_window(&mut self, late: bool) {
        self.firing.pane_index = 0;
        self.firing.non_speculative_index = 0;
        self.firing.fired_non_early = false;
        self.firing.created_late = late;
    }
}

/// The times a grouping decides by.
#[derive(Clone, Copy, Debug)]
pub(super) struct Clock {
    pub(super) watermark: Timestamp,
    pub(super) processing_time: Timestamp,
}

/// Fires the window's pane if its trigger is ready (or, at expiry, if it holds unfired data).
pub(super) fn try_fire(
    strategy: &WindowingStrategy,
    clock: Clock,
    key: &EncodedKey,
    window: &Window,
    slot: &mut Slot<WindowState>,
    expiring: bool,
) -> Result<Option<PaneOutput>, BoxError> {
    let ws = &mut slot.contents;
    if ws.firing.closed {
        return Ok(None);
    }
    let ctx = TriggerContext {
        window,
        watermark: clock.watermark,
        processing_time: clock.processing_time,
    };
    let finished = if ws.firing.trigger.should_fire(&ctx) {
        ws.firing.trigger.on_fire(&ctx)
    } else if expiring && ws.firing.has_new_data {
        true
    } else {
        return Ok(None);
    };
    let is_last = finished || expiring;
    let timing = if ws.firing.fired_non_early || ws.firing.created_late {
        PaneTiming::Late
    } else if clock.watermark <= window.max_timestamp() {
        PaneTiming::Early
    } else {
        PaneTiming::OnTime
    };
    let pane = if ws.firing.has_new_data || timing == PaneTiming::OnTime {
        slot.unemitted_since = None;
        Some(emit(strategy, key.clone(), *window, ws, timing, is_last)?)
    } else {
        None
    };
    if finished {
        ws.firing.closed = true;
        ws.state.clear();
        slot.unemitted_since = None;
    }
    Ok(pane)
}

/// Emits the pane of one (key, window) and updates its counters.
fn emit(
    strategy: &WindowingStrategy,
    key: EncodedKey,
    window: Window,
    ws: &mut WindowState,
    timing: PaneTiming,
    is_last: bool,
) -> Result<PaneOutput, BoxError> {
    let discarding = strategy.accumulation_mode == AccumulationMode::Discarding;
    let value = ws.state.extract(discarding)?;
    let timestamp = match strategy.timestamp_combiner {
        TimestampCombiner::EndOfWindow => window.max_timestamp(),
        TimestampCombiner::Earliest | TimestampCombiner::Latest => ws
            .firing
            .pending_timestamp
            .unwrap_or(window.max_timestamp()),
    };
    let pane = PaneInfo {
        timing,
        is_first: ws.firing.pane_index == 0,
        is_last,
        index: ws.firing.pane_index,
        non_speculative_index: if timing == PaneTiming::Early {
            -1
        } else {
            ws.firing.non_speculative_index
        },
    };
    ws.firing.pane_index += 1;
    if timing != PaneTiming::Early {
        ws.firing.non_speculative_index += 1;
        ws.firing.fired_non_early = true;
    }
    ws.firing.pending_timestamp = None;
    ws.firing.has_new_data = false;
    if discarding {
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

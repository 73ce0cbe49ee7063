//! Timers: callbacks a stateful DoFn asks for, at an event time or a processing time.
//!
//! A timer belongs to the key and window of the element (or timer) that set it. Per (key,
//! window, timer) there is one pending firing: setting a timer again moves it, clearing it
//! cancels it. A **timer family** holds many timers told apart by a dynamic tag (one timer
//! per session, per order...).
//!
//! - An **event-time** timer fires once the input watermark has passed its time (on bounded
//!   input: at the latest at the end of input). It may not be set after its window expires.
//! - A **processing-time** timer fires once the runner's clock reaches its time: the wall
//!   clock, or a test stream's. Pending processing-time timers fire at the end of bounded
//!   input, as on Beam's portable runners.
//!
//! Every timer has an **output timestamp**: what `on_timer`'s outputs carry. Until the timer
//! fires, it holds the DoFn's output watermark at that time, so downstream windows wait for
//! those outputs. By default an event-time timer's output timestamp is its firing time, and a
//! processing-time timer's is the timestamp of the element (or timer) that set it, as in
//! Beam's Java SDK.
//!
//! Per key, timers fire in timestamp order, and a timer set while firing to a time the
//! watermark has already passed fires in the same advance, before any later timer.

use super::Declarations;
use crate::time::Timestamp;
use crate::window::Window;
use serde::{Deserialize, Serialize};

/// The clock a timer runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeDomain {
    /// Event time: fires as the input watermark passes.
    EventTime,
    /// Processing time: fires on the runner's clock.
    ProcessingTime,
}

/// Identifies a declared timer or timer family within its DoFn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimerId(pub u32);

/// One declared timer or timer family, without its handle.
#[derive(Clone, Debug)]
pub struct TimerSpec {
    /// The name it was declared under.
    pub name: String,
    /// Its clock.
    pub domain: TimeDomain,
    /// Whether it is a family (timers with dynamic tags).
    pub family: bool,
}

/// A handle to a declared timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    pub(crate) id: TimerId,
}

impl Timer {
    /// The declaration it stands for.
    pub fn id(&self) -> TimerId {
        self.id
    }
}

/// A handle to a declared timer family: one timer per dynamic tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerFamily {
    pub(crate) id: TimerId,
}

impl TimerFamily {
    /// The declaration it stands for.
    pub fn id(&self) -> TimerId {
        self.id
    }
}

impl Declarations {
    /// Declares a timer named `name` on the clock `domain`.
    pub fn timer(&mut self, name: &str, domain: TimeDomain) -> Timer {
        Timer {
            id: self.declare_timer(name, domain, false),
        }
    }
    /// Declares a timer family named `name` on the clock `domain`.
    pub fn timer_family(&mut self, name: &str, domain: TimeDomain) -> TimerFamily {
        TimerFamily {
            id: self.declare_timer(name, domain, true),
        }
    }
}

/// What a DoFn asked of a timer during one call; the runner applies it to its timer store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimerOp {
    /// Sets (or moves) the timer.
    Set {
        /// The timer or family.
        timer: TimerId,
        /// The dynamic tag (empty for a plain timer).
        tag: String,
        /// When it fires.
        at: Timestamp,
        /// What its outputs carry, and where it holds the watermark.
        output_timestamp: Timestamp,
    },
    /// Cancels the timer.
    Clear {
        /// The timer or family.
        timer: TimerId,
        /// The dynamic tag (empty for a plain timer).
        tag: String,
    },
}

/// A timer that fires, as `on_timer` sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiredTimer {
    /// The timer or family.
    pub timer: TimerId,
    /// The dynamic tag (empty for a plain timer).
    pub tag: String,
    /// Its clock.
    pub domain: TimeDomain,
    /// The time it was set for.
    pub time: Timestamp,
    /// The timestamp of its outputs.
    pub output_timestamp: Timestamp,
    /// The window it belongs to.
    pub window: Window,
}

impl FiredTimer {
    /// Whether this is the firing of `timer`.
    pub fn is(&self, timer: &Timer) -> bool {
        self.timer == timer.id
    }
    /// Whether this is the firing of a timer of `family`.
    pub fn is_in(&self, family: &TimerFamily) -> bool {
        self.timer == family.id
    }
}

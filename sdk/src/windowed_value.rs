//! [`WindowedValue`]: an element with its timestamp, window and pane.

use crate::pane::PaneInfo;
use crate::time::Timestamp;
use crate::window::Window;
use serde::{Deserialize, Serialize};

/// A value as it travels through a pipeline: the user's value, its event timestamp, the window
/// it belongs to and the pane that produced it.
///
/// Beam lets one value sit in several windows at once; Sluice keeps each value in exactly one
/// window. Under sliding windows that "window" is first the value's *slice* (the piece of time
/// the overlapping windows share, see [`Sliced`](crate::graph::Sliced)): transforms that
/// cannot see windows and Combine take the value once, and it is copied once per window only
/// before a transform that observes windows. The outputs of every transform are the same; a
/// DoFn simply sees such an element once per window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowedValue<T> {
    /// The element.
    pub value: T,
    /// Its event timestamp.
    pub timestamp: Timestamp,
    /// The window it belongs to.
    pub window: Window,
    /// The pane that produced it.
    pub pane: PaneInfo,
}

impl<T> WindowedValue<T> {
    /// A value in the global window at `timestamp`, not produced by a trigger.
    pub fn in_global_window(value: T, timestamp: Timestamp) -> Self {
        WindowedValue {
            value,
            timestamp,
            window: Window::Global,
            pane: PaneInfo::NO_FIRING,
        }
    }
    /// A value with all of its metadata.
    pub fn new(value: T, timestamp: Timestamp, window: Window, pane: PaneInfo) -> Self {
        WindowedValue {
            value,
            timestamp,
            window,
            pane,
        }
    }
    /// Another value with this one's timestamp, window and pane.
    pub fn with_value<U>(&self, value: U) -> WindowedValue<U> {
        WindowedValue {
            value,
            timestamp: self.timestamp,
            window: self.window,
            pane: self.pane,
        }
    }
}

/// A value with an event timestamp, as produced by sources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimestampedValue<T> {
    /// The element.
    pub value: T,
    /// Its event timestamp.
    pub timestamp: Timestamp,
}

impl<T> TimestampedValue<T> {
    /// A value at a timestamp.
    pub fn new(value: T, timestamp: Timestamp) -> Self {
        TimestampedValue { value, timestamp }
    }
}

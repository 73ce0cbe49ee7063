//! The global window function: a single window for all of time.

use super::{Window, WindowFn};
use crate::time::Timestamp;

/// Puts every element into the one global window. Its end is
/// [`Timestamp::END_OF_GLOBAL_WINDOW`], so it fires only when the input ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlobalWindows;

impl WindowFn for GlobalWindows {
    fn assign_windows(&self, _timestamp: Timestamp) -> Vec<Window> {
        vec![Window::Global]
    }
    fn side_input_window(&self, _main_window: &Window) -> Window {
        Window::Global
    }
}

//! Exploding slices: an element that sits in its slice goes into every window of the slice.
//!
//! A sliding window function puts each element in its one slice (see
//! [`window::slices`](crate::window::slices) and [`Sliced`](crate::graph::Sliced)); where a
//! transform observes windows, the pipeline inserts this ParDo before it, and the transform
//! sees the element once per window — exactly what assigning the windows at `WindowInto`
//! gives: same value, timestamp and pane, one copy per window, windows in order of their
//! start.

use super::pardo::bundle_fn_factory;
use crate::element::Element;
use crate::error::BoxError;
use crate::graph::kernel::OperatorFactory;
use crate::window::{Slicing, Window};
use crate::windowed_value::WindowedValue;
use std::sync::Arc;

/// The ParDo that explodes sliced elements of type `T` cut by `slicing` into their windows.
pub(crate) fn exploder<T: Element>(slicing: Slicing) -> Arc<dyn OperatorFactory> {
    bundle_fn_factory(
        slicing.windows_per_slice(),
        move |values: Vec<WindowedValue<T>>| explode(&slicing, values),
    )
}

/// Each element of `values` (in a slice of `slicing`) once in every window of its slice.
pub(crate) fn explode<T: Element>(
    slicing: &Slicing,
    values: Vec<WindowedValue<T>>,
) -> Result<Vec<WindowedValue<T>>, BoxError> {
    let per_slice = usize::try_from(slicing.windows_per_slice()).unwrap_or(1);
    let mut out = Vec::with_capacity(values.len().saturating_mul(per_slice));
    for wv in values {
        let Window::Interval(slice) = wv.window else {
            return Err(format!(
                "a sliced element is in {:?}, not in a slice of {slicing:?}",
                wv.window
            )
            .into());
        };
        copies_into(&mut out, wv, slicing.windows_of(&slice));
    }
    Ok(out)
}

/// `wv` once in each of `windows` (in order), its value cloned for all but the last.
pub(crate) fn copies_into<T: Element>(
    out: &mut Vec<WindowedValue<T>>,
    wv: WindowedValue<T>,
    mut windows: Vec<Window>,
) {
    let last = windows.pop();
    for w in windows {
        out.push(WindowedValue::new(
            wv.value.clone(),
            wv.timestamp,
            w,
            wv.pane,
        ));
    }
    if let Some(w) = last {
        out.push(WindowedValue::new(wv.value, wv.timestamp, w, wv.pane));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pane::PaneInfo;
    use crate::time::{Duration, Timestamp};
    use crate::window::{SlidingWindows, WindowFn};

    #[test]
    fn an_element_in_its_slice_explodes_into_the_windows_sliding_windows_assign_it() {
        let hop = SlidingWindows::of(Duration::from_secs(60), Duration::from_secs(40));
        let slicing = Slicing::of(&hop);
        let t = Timestamp::from_secs(45);
        let sliced = WindowedValue::new(
            7u32,
            t,
            Window::Interval(slicing.slice_of(t)),
            PaneInfo::NO_FIRING,
        );
        let out = explode(&slicing, vec![sliced]).unwrap();
        let windows: Vec<Window> = out.iter().map(|wv| wv.window).collect();
        assert_eq!(windows, hop.assign_windows(t));
        assert!(out.iter().all(|wv| wv.value == 7 && wv.timestamp == t));
    }

    #[test]
    fn an_element_outside_any_slice_is_an_error() {
        let slicing = Slicing::of(&SlidingWindows::of(
            Duration::from_secs(60),
            Duration::from_secs(10),
        ));
        let global = WindowedValue::in_global_window(1u8, Timestamp::from_secs(1));
        assert!(explode(&slicing, vec![global]).is_err());
    }
}

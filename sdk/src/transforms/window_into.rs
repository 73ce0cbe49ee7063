//! WindowInto: assigns windows to elements and sets a PCollection's windowing strategy.

use super::explode_slices::{copies_into, exploder};
use super::pardo::{apply_expanding_bundle_fn, bundle_fn_factory};
use crate::element::Element;
use crate::graph::{NodeKind, Sliced};
use crate::pcollection::PCollection;
use crate::pipeline::{OutputSpec, PTransform, SliceUse};
use crate::time::Duration;
use crate::trigger::{AccumulationMode, TimestampCombiner, Trigger};
use crate::window::{
    IntoWindowFn, MAX_WINDOWS_PER_ELEMENT, Slicing, Window, WindowFn, check_windows_per_element,
};
use crate::windowed_value::WindowedValue;
use crate::windowing::WindowingStrategy;
use std::sync::Arc;

/// Re-windows a PCollection with a window function, and optionally sets the trigger,
/// accumulation mode, allowed lateness and timestamp combiner of what is grouped downstream.
///
/// ```
/// use sluice_sdk::prelude::*;
/// let p = Pipeline::new();
/// let events = p.apply("Events", Create::timestamped(vec![(1u32, Timestamp::from_secs(3))]));
/// let windowed = events.apply(
///     "Fixed10s",
///     WindowInto::new(FixedWindows::of(Duration::from_secs(10))).with_allowed_lateness(Duration::from_secs(60)),
/// );
/// assert_eq!(windowed.windowing().allowed_lateness, Duration::from_secs(60));
/// ```
pub struct WindowInto {
    window_fn: Arc<dyn WindowFn>,
    trigger: Option<Trigger>,
    accumulation_mode: Option<AccumulationMode>,
    allowed_lateness: Option<Duration>,
    timestamp_combiner: Option<TimestampCombiner>,
}

impl WindowInto {
    /// Windows with `window_fn` — a concrete window function or an `Arc<dyn WindowFn>`
    /// chosen at run time; the rest of the strategy is kept from the input.
    pub fn new(window_fn: impl IntoWindowFn) -> Self {
        WindowInto {
            window_fn: window_fn.into_window_fn(),
            trigger: None,
            accumulation_mode: None,
            allowed_lateness: None,
            timestamp_combiner: None,
        }
    }
    /// Windows with `window_fn` and resets the rest of the strategy to the defaults: the
    /// default trigger, discarding panes, no allowed lateness, end-of-window timestamps.
    /// Useful to gather results (as assertions and sinks do) whatever the input's triggering.
    pub fn with_defaults(window_fn: impl IntoWindowFn) -> Self {
        WindowInto::new(window_fn)
            .triggering(Trigger::Default)
            .discarding_fired_panes()
            .with_allowed_lateness(Duration::ZERO)
            .with_timestamp_combiner(TimestampCombiner::EndOfWindow)
    }
    /// Sets the trigger.
    pub fn triggering(self, trigger: Trigger) -> Self {
        WindowInto {
            trigger: Some(trigger),
            ..self
        }
    }
    /// Later panes hold everything seen so far.
    pub fn accumulating_fired_panes(self) -> Self {
        WindowInto {
            accumulation_mode: Some(AccumulationMode::Accumulating),
            ..self
        }
    }
    /// Later panes hold only what arrived since the previous pane.
    pub fn discarding_fired_panes(self) -> Self {
        WindowInto {
            accumulation_mode: Some(AccumulationMode::Discarding),
            ..self
        }
    }
    /// Accepts late data up to `lateness` after the end of a window.
    pub fn with_allowed_lateness(self, lateness: Duration) -> Self {
        WindowInto {
            allowed_lateness: Some(lateness),
            ..self
        }
    }
    /// Sets how grouped output is timestamped.
    pub fn with_timestamp_combiner(self, combiner: TimestampCombiner) -> Self {
        WindowInto {
            timestamp_combiner: Some(combiner),
            ..self
        }
    }
}

impl<T: Element> PTransform<PCollection<T>> for WindowInto {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> PCollection<T> {
        let mut strategy = input.windowing();
        strategy.window_fn = self.window_fn.clone();
        if let Some(t) = self.trigger {
            strategy.trigger = t;
        }
        if let Some(m) = self.accumulation_mode {
            strategy.accumulation_mode = m;
        }
        if let Some(l) = self.allowed_lateness {
            strategy.allowed_lateness = l;
        }
        if let Some(c) = self.timestamp_combiner {
            strategy.timestamp_combiner = c;
        }
        let window_fn = self.window_fn;
        if let Err(e) = check_windows_per_element(window_fn.as_ref()) {
            let p = input.pipeline();
            p.record_error(format!("WindowInto '{}': {e}", p.current_name()));
        }
        if let Some(slicing) = window_fn.slicing() {
            return assign_slices(input, strategy, slicing);
        }
        apply_expanding_bundle_fn(
            input,
            Some(strategy),
            window_fn.max_windows_per_element(),
            move |values: Vec<WindowedValue<T>>| {
                let mut out = Vec::with_capacity(values.len());
                for wv in values {
                    let windows = window_fn.assign_windows(wv.timestamp);
                    if windows.len() as u64 > MAX_WINDOWS_PER_ELEMENT {
                        return Err(format!(
                            "{window_fn:?} assigned {} windows to the element at {}; \
                             at most {MAX_WINDOWS_PER_ELEMENT} are supported",
                            windows.len(),
                            wv.timestamp
                        )
                        .into());
                    }
                    copies_into(&mut out, wv, windows);
                }
                Ok(out)
            },
        )
    }
}

/// Windows `input` with sliding windows cut by `slicing`: each element goes to its one slice,
/// and is copied into the slice's windows only where a transform observes them (see
/// [`Sliced`]).
fn assign_slices<T: Element>(
    input: &PCollection<T>,
    strategy: WindowingStrategy,
    slicing: Slicing,
) -> PCollection<T> {
    let p = input.pipeline();
    let info = p.collection_info(input.id());
    // Windows shorter than their period leave gaps: an element in no window goes nowhere, as
    // it would with a copy per window.
    let gaps = slicing.windows().size() < slicing.windows().period();
    let assign = bundle_fn_factory(1, move |mut values: Vec<WindowedValue<T>>| {
        for wv in &mut values {
            wv.window = Window::Interval(slicing.slice_of(wv.timestamp));
        }
        if gaps {
            values.retain(|wv| {
                let slice = wv.window.as_interval().expect("a slice was assigned");
                !slicing.windows_of(slice).is_empty()
            });
        }
        Ok(values)
    });
    let sliced = Sliced {
        slicing,
        explode: exploder::<T>(slicing),
    };
    let (_, outs) = p.add_primitive_with_slices(
        NodeKind::ParDo(assign),
        vec![input.id()],
        vec![],
        vec![OutputSpec::of::<T>(info.boundedness, strategy)],
        SliceUse::Assign(sliced),
    );
    p.handle(outs[0])
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;

    #[test]
    fn too_many_windows_per_element_is_a_construction_error_naming_the_transform() {
        let p = Pipeline::new();
        let events = p.apply(
            "Events",
            Create::timestamped(vec![(1u32, Timestamp::from_secs(3))]),
        );
        let day_every_ms =
            SlidingWindows::of(Duration::from_secs(86_400), Duration::from_millis(1));
        let _ = events.apply("EveryMs", WindowInto::new(day_every_ms));
        let err = p
            .graph()
            .err()
            .expect("86 400 000 windows per element must be refused");
        let text = err.to_string();
        assert!(text.contains("WindowInto 'EveryMs'"), "{text}");
        assert!(text.contains("86400000 windows"), "{text}");
    }

    #[test]
    fn a_day_of_sliding_windows_every_second_is_allowed() {
        let p = Pipeline::new();
        let events = p.apply(
            "Events",
            Create::timestamped(vec![(1u32, Timestamp::from_secs(3))]),
        );
        let day_every_s = SlidingWindows::of(Duration::from_secs(86_400), Duration::from_secs(1));
        let _ = events.apply("EverySecond", WindowInto::new(day_every_s));
        assert!(p.graph().is_ok());
    }
}

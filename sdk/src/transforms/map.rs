//! Map, FlatMap and Filter: element-wise closures.
//!
//! These are ParDos whose code is a closure. They run a whole bundle per call, so a chain of
//! them costs one dynamic call per bundle per transform. Outputs keep the input's timestamp,
//! window and pane. Map, FlatMap and Filter cannot see windows, so on sliding windows they run
//! once per element, on its slice (see [`Sliced`](crate::graph::Sliced));
//! [`MapWithContext`] sees each window.
//!
//! ```
//! use sluice_sdk::prelude::*;
//! let p = Pipeline::new();
//! let lines = p.apply("Lines", Create::of(vec!["a b".to_string(), "".to_string()]));
//! let words = lines
//!     .filter("NonEmpty", |l: &String| !l.is_empty())
//!     .flat_map("Split", |l: String| l.split(' ').map(str::to_string).collect::<Vec<_>>())
//!     .map("Len", |w: String| w.len());
//! # let _ = words;
//! ```

use super::pardo::{apply_bundle_fn, apply_window_agnostic_fn};
use crate::element::Element;
use crate::pcollection::PCollection;
use crate::pipeline::PTransform;
use crate::windowed_value::WindowedValue;
use std::marker::PhantomData;

/// Applies a function to every element.
pub struct Map<F, I, O> {
    f: F,
    _t: PhantomData<fn(I) -> O>,
}

impl<I: Element, O: Element, F: Fn(I) -> O + Send + Sync + 'static> Map<F, I, O> {
    /// Maps with `f`.
    pub fn new(f: F) -> Self {
        Map { f, _t: PhantomData }
    }
}

impl<I: Element, O: Element, F: Fn(I) -> O + Send + Sync + 'static> PTransform<PCollection<I>>
    for Map<F, I, O>
{
    type Output = PCollection<O>;
    fn expand(self, input: &PCollection<I>) -> PCollection<O> {
        let f = self.f;
        apply_window_agnostic_fn(input, move |values: Vec<WindowedValue<I>>| {
            Ok(values
                .into_iter()
                .map(|wv| WindowedValue {
                    value: f(wv.value),
                    timestamp: wv.timestamp,
                    window: wv.window,
                    pane: wv.pane,
                })
                .collect())
        })
    }
}

/// Applies a function that returns any number of outputs per element.
pub struct FlatMap<F, I, O> {
    f: F,
    _t: PhantomData<fn(I) -> O>,
}

impl<I: Element, O: Element, R: IntoIterator<Item = O>, F: Fn(I) -> R + Send + Sync + 'static>
    FlatMap<F, I, O>
{
    /// Flat-maps with `f`.
    pub fn new(f: F) -> Self {
        FlatMap { f, _t: PhantomData }
    }
}

impl<I: Element, O: Element, R: IntoIterator<Item = O>, F: Fn(I) -> R + Send + Sync + 'static>
    PTransform<PCollection<I>> for FlatMap<F, I, O>
{
    type Output = PCollection<O>;
    fn expand(self, input: &PCollection<I>) -> PCollection<O> {
        let f = self.f;
        // Outputs per input seen so far, to size each output bundle at once.
        let fan_out = std::sync::atomic::AtomicUsize::new(1);
        apply_window_agnostic_fn(input, move |values: Vec<WindowedValue<I>>| {
            let n = values.len();
            let mut out =
                Vec::with_capacity(n * fan_out.load(std::sync::atomic::Ordering::Relaxed));
            for wv in values {
                let (timestamp, window, pane) = (wv.timestamp, wv.window, wv.pane);
                out.extend(f(wv.value).into_iter().map(|value| WindowedValue {
                    value,
                    timestamp,
                    window,
                    pane,
                }));
            }
            if n > 0 {
                fan_out.store(
                    out.len().div_ceil(n).clamp(1, 64),
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            Ok(out)
        })
    }
}

/// Keeps the elements for which a predicate holds.
pub struct Filter<F, T> {
    f: F,
    _t: PhantomData<fn(T)>,
}

impl<T: Element, F: Fn(&T) -> bool + Send + Sync + 'static> Filter<F, T> {
    /// Keeps elements where `f` is true.
    pub fn new(f: F) -> Self {
        Filter { f, _t: PhantomData }
    }
}

impl<T: Element, F: Fn(&T) -> bool + Send + Sync + 'static> PTransform<PCollection<T>>
    for Filter<F, T>
{
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> PCollection<T> {
        let f = self.f;
        apply_window_agnostic_fn(input, move |mut values: Vec<WindowedValue<T>>| {
            values.retain(|wv| f(&wv.value));
            Ok(values)
        })
    }
}

/// The metadata of an element, as [`MapWithContext`] sees it.
#[derive(Clone, Copy, Debug)]
pub struct ElementMeta {
    /// Event timestamp.
    pub timestamp: crate::time::Timestamp,
    /// Window.
    pub window: crate::window::Window,
    /// Pane.
    pub pane: crate::pane::PaneInfo,
}

/// Applies a function that also sees each element's timestamp, window and pane.
pub struct MapWithContext<F, I, O> {
    f: F,
    _t: PhantomData<fn(I) -> O>,
}

impl<I: Element, O: Element, F: Fn(I, &ElementMeta) -> O + Send + Sync + 'static>
    MapWithContext<F, I, O>
{
    /// Maps with `f`.
    pub fn new(f: F) -> Self {
        MapWithContext { f, _t: PhantomData }
    }
}

impl<I: Element, O: Element, F: Fn(I, &ElementMeta) -> O + Send + Sync + 'static>
    PTransform<PCollection<I>> for MapWithContext<F, I, O>
{
    type Output = PCollection<O>;
    fn expand(self, input: &PCollection<I>) -> PCollection<O> {
        let f = self.f;
        apply_bundle_fn(input, None, move |values: Vec<WindowedValue<I>>| {
            Ok(values
                .into_iter()
                .map(|wv| {
                    let meta = ElementMeta {
                        timestamp: wv.timestamp,
                        window: wv.window,
                        pane: wv.pane,
                    };
                    WindowedValue {
                        value: f(wv.value, &meta),
                        timestamp: wv.timestamp,
                        window: wv.window,
                        pane: wv.pane,
                    }
                })
                .collect())
        })
    }
}

impl<T: Element> PCollection<T> {
    /// Shorthand for `apply(name, Map::new(f))`.
    pub fn map<O: Element>(
        &self,
        name: &str,
        f: impl Fn(T) -> O + Send + Sync + 'static,
    ) -> PCollection<O> {
        self.apply(name, Map::new(f))
    }
    /// Shorthand for `apply(name, FlatMap::new(f))`.
    pub fn flat_map<O: Element, R: IntoIterator<Item = O>>(
        &self,
        name: &str,
        f: impl Fn(T) -> R + Send + Sync + 'static,
    ) -> PCollection<O> {
        self.apply(name, FlatMap::new(f))
    }
    /// Shorthand for `apply(name, Filter::new(f))`.
    pub fn filter(
        &self,
        name: &str,
        f: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> PCollection<T> {
        self.apply(name, Filter::new(f))
    }
}

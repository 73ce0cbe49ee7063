//! Side inputs: a PCollection materialized as a view that a ParDo reads beside its main input.
//!
//! Apply a [`View`] to a PCollection to get a [`PCollectionView`], declare it on the ParDo
//! with `with_side_input`, and read it in `process` with `ctx.side_input(&view)`. The view is
//! computed per window: a main-input element in window `w` reads the side-input window that
//! the side input's window function maps `w` to (for global side inputs, the global window;
//! for fixed or sliding ones, the window holding the end of `w`).
//!
//! | view | value | empty window | invalid |
//! |---|---|---|---|
//! | [`View::singleton`] | `T` | the default, else an error | more than one element |
//! | [`View::iterable`], [`View::list`] | `Vec<T>` | empty | — |
//! | [`View::map`] | `HashMap<K, V>` | empty | a duplicate key |
//! | [`View::multimap`] | `HashMap<K, Vec<V>>` | empty | — |
//!
//! ```
//! use sluice_sdk::prelude::*;
//! let p = Pipeline::new();
//! let threshold = p.apply("Threshold", Create::of(vec![10i64])).apply("AsSingleton", View::singleton());
//! let big = p.apply("Numbers", Create::of(vec![5i64, 50]))
//!     .apply("KeepBig", ParDo::of(FilterWithSide { view: threshold.clone() }).with_side_input(&threshold));
//!
//! #[derive(Clone)]
//! struct FilterWithSide { view: PCollectionView<i64> }
//! impl DoFn for FilterWithSide {
//!     type In = i64;
//!     type Out = i64;
//!     fn process(&mut self, n: i64, ctx: &mut ProcessContext<'_, i64>) -> DoFnResult {
//!         if n > *ctx.side_input(&self.view)? { ctx.output(n) }
//!         Ok(())
//!     }
//! }
//! # let _ = big;
//! ```

use crate::element::{Element, Key};
use crate::error::BoxError;
use crate::graph::kernel::ViewKernel;
use crate::graph::{Bundle, NodeKind};
use crate::pcollection::PCollection;
use crate::pipeline::PTransform;
use crate::window::{Window, WindowFn};
use crate::windowed_value::WindowedValue;
use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// A side input could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SideInputError(pub String);

/// A handle on a materialized side input whose value (per window) is a `V`.
pub struct PCollectionView<V> {
    id: usize,
    name: Arc<str>,
    _v: PhantomData<fn() -> V>,
}

impl<V> Clone for PCollectionView<V> {
    fn clone(&self) -> Self {
        PCollectionView {
            id: self.id,
            name: self.name.clone(),
            _v: PhantomData,
        }
    }
}

impl<V> PCollectionView<V> {
    /// The id of the View node in the graph.
    pub fn id(&self) -> usize {
        self.id
    }
    /// The full name of the View transform.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The materialized contents of a view, per side-input window.
pub struct ViewData<V> {
    window_fn: Arc<dyn WindowFn>,
    per_window: HashMap<Window, Result<V, String>>,
    empty: Result<V, String>,
}

impl<V> ViewData<V> {
    /// The value for a main-input window.
    pub fn get(&self, main_window: &Window) -> Result<&V, String> {
        let side_window = self.window_fn.side_input_window(main_window);
        let entry = self.per_window.get(&side_window).unwrap_or(&self.empty);
        entry
            .as_ref()
            .map_err(|e| format!("{e} (side-input window {side_window:?})"))
    }
}

/// How a view builds its value from the elements of one window.
trait ViewFn<T>: Send + Sync + 'static {
    type Value: Send + Sync + 'static;
    fn build(&self, values: Vec<T>) -> Result<Self::Value, String>;
    fn empty(&self) -> Result<Self::Value, String>;
}

struct SingletonFn<T>(Option<T>);
impl<T: Element> ViewFn<T> for SingletonFn<T> {
    type Value = T;
    fn build(&self, mut values: Vec<T>) -> Result<T, String> {
        match values.len() {
            1 => Ok(values.pop().expect("one value")),
            0 => self.empty(),
            n => Err(format!(
                "a singleton view holds {n} elements; expected exactly one"
            )),
        }
    }
    fn empty(&self) -> Result<T, String> {
        self.0
            .clone()
            .ok_or_else(|| "a singleton view is empty and has no default value".to_string())
    }
}

struct ListFn;
impl<T: Element> ViewFn<T> for ListFn {
    type Value = Vec<T>;
    fn build(&self, values: Vec<T>) -> Result<Vec<T>, String> {
        Ok(values)
    }
    fn empty(&self) -> Result<Vec<T>, String> {
        Ok(Vec::new())
    }
}

struct MapFn;
impl<K: Key, V: Element> ViewFn<crate::KV<K, V>> for MapFn {
    type Value = HashMap<K, V>;
    fn build(&self, values: Vec<crate::KV<K, V>>) -> Result<Self::Value, String> {
        let mut map = HashMap::with_capacity(values.len());
        for kv in values {
            if map.insert(kv.key, kv.value).is_some() {
                return Err("a map view holds a duplicate key; use View::multimap for several values per key".into());
            }
        }
        Ok(map)
    }
    fn empty(&self) -> Result<Self::Value, String> {
        Ok(HashMap::new())
    }
}

struct MultimapFn;
impl<K: Key, V: Element> ViewFn<crate::KV<K, V>> for MultimapFn {
    type Value = HashMap<K, Vec<V>>;
    fn build(&self, values: Vec<crate::KV<K, V>>) -> Result<Self::Value, String> {
        let mut map: HashMap<K, Vec<V>> = HashMap::new();
        for kv in values {
            map.entry(kv.key).or_default().push(kv.value);
        }
        Ok(map)
    }
    fn empty(&self) -> Result<Self::Value, String> {
        Ok(HashMap::new())
    }
}

/// The values of a bundle of a view's input, or an error naming both types.
fn view_values<T: Element>(bundle: Bundle) -> Result<Vec<WindowedValue<T>>, BoxError> {
    bundle.downcast().map_err(|b| {
        format!(
            "view input has type {}, expected {}",
            b.element_type(),
            std::any::type_name::<T>()
        )
        .into()
    })
}

struct ViewKernelImpl<T, F> {
    view_fn: F,
    window_fn: Arc<dyn WindowFn>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element, F: ViewFn<T>> ViewKernel for ViewKernelImpl<T, F> {
    fn materialize(&self, input: Vec<Bundle>) -> Result<Arc<dyn Any + Send + Sync>, BoxError> {
        let mut groups: HashMap<Window, Vec<T>> = HashMap::new();
        for bundle in input {
            for wv in view_values::<T>(bundle)? {
                groups.entry(wv.window).or_default().push(wv.value);
            }
        }
        let per_window = groups
            .into_iter()
            .map(|(w, vs)| (w, self.view_fn.build(vs)))
            .collect();
        Ok(Arc::new(ViewData {
            window_fn: self.window_fn.clone(),
            per_window,
            empty: self.view_fn.empty(),
        }))
    }

    fn encode_input(&self, input: Bundle) -> Result<Vec<u8>, BoxError> {
        Ok(crate::element::encode(&view_values::<T>(input)?)?)
    }

    fn decode_input(&self, bytes: &[u8]) -> Result<Bundle, BoxError> {
        let values: Vec<WindowedValue<T>> = crate::element::decode(bytes)?;
        Ok(Bundle::new(values))
    }
}

/// Transforms that turn a PCollection into a side-input view.
pub struct View<T, F> {
    view_fn: F,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element> View<T, ()> {
    /// A view of the single element per window (an error to read if there are several, or
    /// none and no default).
    pub fn singleton() -> View<T, SingletonView<T>> {
        View {
            view_fn: SingletonView(None),
            _t: PhantomData,
        }
    }
    /// All elements per window, in no particular order.
    pub fn iterable() -> View<T, ListView> {
        View {
            view_fn: ListView,
            _t: PhantomData,
        }
    }
    /// All elements per window, as a list (the same as [`View::iterable`]: PCollections have
    /// no order, so neither has the list).
    pub fn list() -> View<T, ListView> {
        View {
            view_fn: ListView,
            _t: PhantomData,
        }
    }
}

impl<K: Key, V: Element> View<crate::KV<K, V>, ()> {
    /// A map from key to its single value per window (an error to read on a duplicate key).
    pub fn map() -> View<crate::KV<K, V>, MapView> {
        View {
            view_fn: MapView,
            _t: PhantomData,
        }
    }
    /// A map from key to all of its values per window.
    pub fn multimap() -> View<crate::KV<K, V>, MultimapView> {
        View {
            view_fn: MultimapView,
            _t: PhantomData,
        }
    }
}

impl<T: Element> View<T, SingletonView<T>> {
    /// The value a window without elements reads.
    pub fn with_default(self, default: T) -> Self {
        View {
            view_fn: SingletonView(Some(default)),
            _t: PhantomData,
        }
    }
}

/// Marker for [`View::singleton`].
pub struct SingletonView<T>(Option<T>);
/// Marker for [`View::iterable`] and [`View::list`].
pub struct ListView;
/// Marker for [`View::map`].
pub struct MapView;
/// Marker for [`View::multimap`].
pub struct MultimapView;

fn apply_view<T: Element, F: ViewFn<T>>(
    input: &PCollection<T>,
    view_fn: F,
) -> PCollectionView<F::Value> {
    let p = input.pipeline();
    let windowing = input.windowing();
    if windowing.window_fn.is_merging() {
        p.record_error(format!(
            "'{}': a side input cannot have merging windows (sessions)",
            p.current_name()
        ));
    }
    let kernel = ViewKernelImpl {
        view_fn,
        window_fn: windowing.window_fn.clone(),
        _t: PhantomData,
    };
    let (id, _) = p.add_primitive(
        NodeKind::View(Arc::new(kernel)),
        vec![input.id()],
        vec![],
        vec![],
    );
    PCollectionView {
        id,
        name: p.current_name().into(),
        _v: PhantomData,
    }
}

impl<T: Element> PTransform<PCollection<T>> for View<T, SingletonView<T>> {
    type Output = PCollectionView<T>;
    fn expand(self, input: &PCollection<T>) -> Self::Output {
        apply_view(input, SingletonFn(self.view_fn.0))
    }
}

impl<T: Element> PTransform<PCollection<T>> for View<T, ListView> {
    type Output = PCollectionView<Vec<T>>;
    fn expand(self, input: &PCollection<T>) -> Self::Output {
        apply_view(input, ListFn)
    }
}

impl<K: Key, V: Element> PTransform<PCollection<crate::KV<K, V>>>
    for View<crate::KV<K, V>, MapView>
{
    type Output = PCollectionView<HashMap<K, V>>;
    fn expand(self, input: &PCollection<crate::KV<K, V>>) -> Self::Output {
        apply_view(input, MapFn)
    }
}

impl<K: Key, V: Element> PTransform<PCollection<crate::KV<K, V>>>
    for View<crate::KV<K, V>, MultimapView>
{
    type Output = PCollectionView<HashMap<K, Vec<V>>>;
    fn expand(self, input: &PCollection<crate::KV<K, V>>) -> Self::Output {
        apply_view(input, MultimapFn)
    }
}

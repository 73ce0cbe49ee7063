//! Keys, Values and KvSwap: reshaping `KV` elements.

use super::pardo::apply_window_agnostic_fn;
use crate::element::Element;
use crate::kv::KV;
use crate::pcollection::PCollection;
use crate::pipeline::PTransform;
use crate::windowed_value::WindowedValue;

/// The keys of a PCollection of `KV`.
pub struct Keys;
/// The values of a PCollection of `KV`.
pub struct Values;
/// Swaps key and value of each `KV`.
pub struct KvSwap;

impl<K: Element, V: Element> PTransform<PCollection<KV<K, V>>> for Keys {
    type Output = PCollection<K>;
    fn expand(self, input: &PCollection<KV<K, V>>) -> PCollection<K> {
        apply_window_agnostic_fn(input, |values: Vec<WindowedValue<KV<K, V>>>| {
            Ok(values
                .into_iter()
                .map(|wv| WindowedValue::new(wv.value.key, wv.timestamp, wv.window, wv.pane))
                .collect())
        })
    }
}

impl<K: Element, V: Element> PTransform<PCollection<KV<K, V>>> for Values {
    type Output = PCollection<V>;
    fn expand(self, input: &PCollection<KV<K, V>>) -> PCollection<V> {
        apply_window_agnostic_fn(input, |values: Vec<WindowedValue<KV<K, V>>>| {
            Ok(values
                .into_iter()
                .map(|wv| WindowedValue::new(wv.value.value, wv.timestamp, wv.window, wv.pane))
                .collect())
        })
    }
}

impl<K: Element, V: Element> PTransform<PCollection<KV<K, V>>> for KvSwap {
    type Output = PCollection<KV<V, K>>;
    fn expand(self, input: &PCollection<KV<K, V>>) -> PCollection<KV<V, K>> {
        apply_window_agnostic_fn(input, |values: Vec<WindowedValue<KV<K, V>>>| {
            Ok(values
                .into_iter()
                .map(|wv| {
                    WindowedValue::new(
                        KV::new(wv.value.value, wv.value.key),
                        wv.timestamp,
                        wv.window,
                        wv.pane,
                    )
                })
                .collect())
        })
    }
}

//! Count: elements globally, per key, or per distinct element.

use super::combine::Combine;
use super::combine::combiners::CountFn;
use crate::element::{Element, Key};
use crate::kv::KV;
use crate::pcollection::PCollection;
use crate::pipeline::PTransform;

/// Entry points of the counting transforms.
pub struct Count;

impl Count {
    /// The number of elements (per window): `PCollection<u64>`.
    pub fn globally() -> CountGlobally {
        CountGlobally
    }
    /// The number of values of each key: `PCollection<KV<K, u64>>`.
    pub fn per_key() -> CountPerKey {
        CountPerKey
    }
    /// The number of occurrences of each distinct element: `PCollection<KV<T, u64>>`.
    pub fn per_element() -> CountPerElement {
        CountPerElement
    }
}

/// See [`Count::globally`].
pub struct CountGlobally;
/// See [`Count::per_key`].
pub struct CountPerKey;
/// See [`Count::per_element`].
pub struct CountPerElement;

impl<T: Element> PTransform<PCollection<T>> for CountGlobally {
    type Output = PCollection<u64>;
    fn expand(self, input: &PCollection<T>) -> PCollection<u64> {
        input.apply("Combine", Combine::globally(CountFn::<T>::new()))
    }
}

impl<K: Key, V: Element> PTransform<PCollection<KV<K, V>>> for CountPerKey {
    type Output = PCollection<KV<K, u64>>;
    fn expand(self, input: &PCollection<KV<K, V>>) -> PCollection<KV<K, u64>> {
        input.apply("Combine", Combine::per_key(CountFn::<V>::new()))
    }
}

impl<T: Key> PTransform<PCollection<T>> for CountPerElement {
    type Output = PCollection<KV<T, u64>>;
    fn expand(self, input: &PCollection<T>) -> PCollection<KV<T, u64>> {
        super::combine::combine_elements_as_keys(input, CountFn::<()>::new())
    }
}

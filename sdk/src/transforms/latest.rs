//! Latest: the element with the latest timestamp, per window — globally or per key.
//!
//! As Beam's `Latest`, a combine over timestamped values: each element is paired with its
//! event timestamp, and the accumulator keeps the one with the greatest timestamp (of equal
//! timestamps, any one). Unlike Beam, whose `Latest.globally()` yields `null` for an empty
//! window, [`Latest::globally`] yields nothing for one: Rust has no `null` of every type.

use super::combine::{Combine, CombineFn};
use super::map::{ElementMeta, MapWithContext};
use crate::element::{Element, Key};
use crate::kv::KV;
use crate::pcollection::PCollection;
use crate::pipeline::PTransform;
use crate::windowed_value::TimestampedValue;
use std::marker::PhantomData;

/// Entry points of the Latest transforms.
pub struct Latest;

impl Latest {
    /// The latest element of each window.
    pub fn globally() -> LatestGlobally {
        LatestGlobally
    }
    /// The latest value of each key and window.
    pub fn per_key() -> LatestPerKey {
        LatestPerKey
    }
}

/// See [`Latest::globally`].
pub struct LatestGlobally;

/// See [`Latest::per_key`].
pub struct LatestPerKey;

/// Keeps the timestamped value with the greatest timestamp.
#[derive(Clone)]
pub struct LatestFn<T>(PhantomData<fn(T)>);

impl<T> Default for LatestFn<T> {
    fn default() -> Self {
        LatestFn(PhantomData)
    }
}

impl<T: Element> CombineFn for LatestFn<T> {
    type Input = TimestampedValue<T>;
    type Accumulator = Option<TimestampedValue<T>>;
    type Output = Option<T>;
    fn create_accumulator(&self) -> Self::Accumulator {
        None
    }
    fn add_input(&self, acc: &mut Self::Accumulator, input: TimestampedValue<T>) {
        if acc.as_ref().is_none_or(|a| input.timestamp >= a.timestamp) {
            *acc = Some(input);
        }
    }
    fn merge_accumulators(&self, acc: &mut Self::Accumulator, other: Self::Accumulator) {
        if let Some(o) = other {
            self.add_input(acc, o);
        }
    }
    fn extract_output(&self, acc: &Self::Accumulator) -> Option<T> {
        acc.as_ref().map(|a| a.value.clone())
    }
}

impl<T: Element> PTransform<PCollection<T>> for LatestGlobally {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> PCollection<T> {
        input
            .apply(
                "Reify",
                MapWithContext::new(|v: T, m: &ElementMeta| TimestampedValue::new(v, m.timestamp)),
            )
            .apply(
                "Combine",
                Combine::globally(LatestFn::<T>::default()).without_defaults(),
            )
            .flat_map("Unwrap", |v: Option<T>| v)
    }
}

impl<K: Key, V: Element> PTransform<PCollection<KV<K, V>>> for LatestPerKey {
    type Output = PCollection<KV<K, V>>;
    fn expand(self, input: &PCollection<KV<K, V>>) -> Self::Output {
        input
            .apply(
                "Reify",
                MapWithContext::new(|kv: KV<K, V>, m: &ElementMeta| {
                    KV::new(kv.key, TimestampedValue::new(kv.value, m.timestamp))
                }),
            )
            .apply("Combine", Combine::per_key(LatestFn::<V>::default()))
            .flat_map("Unwrap", |kv: KV<K, Option<V>>| {
                kv.value.map(|v| KV::new(kv.key, v))
            })
    }
}

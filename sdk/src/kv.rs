//! [`KV`]: a key with a value, the element type of keyed PCollections.

use serde::{Deserialize, Serialize};

/// A key and a value. Grouping transforms (GroupByKey, Combine.perKey, CoGroupByKey) work on
/// PCollections of `KV`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KV<K, V> {
    /// The key.
    pub key: K,
    /// The value.
    pub value: V,
}

impl<K, V> KV<K, V> {
    /// A key with a value.
    pub fn new(key: K, value: V) -> Self {
        KV { key, value }
    }
}

impl<K, V> From<(K, V)> for KV<K, V> {
    fn from((key, value): (K, V)) -> Self {
        KV { key, value }
    }
}

//! CoGroupByKey: groups several keyed PCollections by their common key (a relational join).
//!
//! ```
//! use sluice_sdk::prelude::*;
//! let p = Pipeline::new();
//! let emails = p.apply("Emails", Create::of(vec![KV::new("amy".to_string(), "amy@x".to_string())]));
//! let phones = p.apply("Phones", Create::of(vec![KV::new("amy".to_string(), 555u32)]));
//! let (email_tag, phone_tag) = (TupleTag::<String>::new("emails"), TupleTag::<u32>::new("phones"));
//! let joined = KeyedPCollectionTuple::of(&email_tag, &emails)
//!     .and(&phone_tag, &phones)
//!     .apply("Join", CoGroupByKey);
//! let lines = joined.map("Format", move |kv: KV<String, CoGbkResult>| {
//!     let emails: Vec<String> = kv.value.get_all(&email_tag).unwrap_or_default();
//!     format!("{}: {:?}", kv.key, emails)
//! });
//! # let _ = (lines, phone_tag);
//! ```

use super::flatten::{Flatten, PCollectionList};
use super::group_by_key::GroupByKey;
use crate::dofn::TupleTag;
use crate::element::{CoderError, Element, Key, decode, encode};
use crate::kv::KV;
use crate::pcollection::PCollection;
use crate::pipeline::{PTransform, Pipeline};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A value of one of the joined inputs, encoded, with the position of its input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawUnionValue {
    /// Position of the input in the [`KeyedPCollectionTuple`].
    pub union_tag: u32,
    /// The encoded value.
    pub bytes: Vec<u8>,
}

/// The values of one key, per joined input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoGbkResult {
    tags: Vec<String>,
    values: Vec<Vec<Vec<u8>>>,
}

impl CoGbkResult {
    /// The values of the input tagged `tag` (empty if it had none for this key).
    pub fn get_all<V: Element>(&self, tag: &TupleTag<V>) -> Result<Vec<V>, CoderError> {
        let i = self
            .tags
            .iter()
            .position(|t| t == tag.name())
            .ok_or_else(|| {
                CoderError(format!(
                    "tag '{}' is not part of this CoGroupByKey",
                    tag.name()
                ))
            })?;
        self.values[i].iter().map(|b| decode(b)).collect()
    }
    /// The single value of the input tagged `tag`, or `None` if it has none; an error if it
    /// has several.
    pub fn get_only<V: Element>(&self, tag: &TupleTag<V>) -> Result<Option<V>, CoderError> {
        let mut all = self.get_all(tag)?;
        match all.len() {
            0 | 1 => Ok(all.pop()),
            n => Err(CoderError(format!(
                "tag '{}' has {n} values for this key, expected at most one",
                tag.name()
            ))),
        }
    }
}

type Tagger<K> = Arc<dyn Fn(u32) -> PCollection<KV<K, RawUnionValue>>>;

/// Keyed PCollections with a tag each, the input of [`CoGroupByKey`].
pub struct KeyedPCollectionTuple<K> {
    pipeline: Pipeline,
    tags: Vec<String>,
    taggers: Vec<Tagger<K>>,
}

impl<K: Key> KeyedPCollectionTuple<K> {
    /// A tuple with one input.
    pub fn of<V: Element>(tag: &TupleTag<V>, input: &PCollection<KV<K, V>>) -> Self {
        KeyedPCollectionTuple {
            pipeline: input.pipeline().clone(),
            tags: Vec::new(),
            taggers: Vec::new(),
        }
        .and(tag, input)
    }
    /// Adds an input. Tag names must differ.
    pub fn and<V: Element>(mut self, tag: &TupleTag<V>, input: &PCollection<KV<K, V>>) -> Self {
        if self.tags.iter().any(|t| t == tag.name()) {
            self.pipeline
                .record_error(format!("CoGroupByKey tag '{}' is used twice", tag.name()));
        }
        self.tags.push(tag.name().to_string());
        let input = input.clone();
        let name = format!("Tag[{}]", tag.name());
        self.taggers.push(Arc::new(move |union_tag| {
            input.map(&name, move |kv: KV<K, V>| match encode(&kv.value) {
                Ok(bytes) => KV::new(kv.key, RawUnionValue { union_tag, bytes }),
                // Values that decoded from the pipeline always encode again.
                Err(e) => panic!("CoGroupByKey could not encode a value: {e}"),
            })
        }));
        self
    }
    /// Applies a transform to the tuple under `name`.
    pub fn apply<X: PTransform<KeyedPCollectionTuple<K>>>(
        &self,
        name: &str,
        transform: X,
    ) -> X::Output {
        self.pipeline.apply_named(name, || transform.expand(self))
    }
}

/// Groups every input of a [`KeyedPCollectionTuple`] by key (and window): one
/// `KV<K, CoGbkResult>` per key that occurs in any input.
pub struct CoGroupByKey;

impl<K: Key> PTransform<KeyedPCollectionTuple<K>> for CoGroupByKey {
    type Output = PCollection<KV<K, CoGbkResult>>;
    fn expand(self, input: &KeyedPCollectionTuple<K>) -> Self::Output {
        let tagged: Vec<_> = input
            .taggers
            .iter()
            .enumerate()
            .map(|(i, t)| t(i as u32))
            .collect();
        let tags = input.tags.clone();
        PCollectionList::of(tagged)
            .apply("Flatten", Flatten)
            .apply("GroupByKey", GroupByKey)
            .map("ConstructResult", move |kv: KV<K, Vec<RawUnionValue>>| {
                let mut values = vec![Vec::new(); tags.len()];
                for u in kv.value {
                    values[u.union_tag as usize].push(u.bytes);
                }
                KV::new(
                    kv.key,
                    CoGbkResult {
                        tags: tags.clone(),
                        values,
                    },
                )
            })
    }
}

//! CoGroupByKey: groups several keyed PCollections by their common key (a relational join).
//!
//! Each input is named by a [`TupleTag`]; the result of a key, a [`CoGbkResult`], gives the
//! values of each input by its tag. Tags are told apart by identity, not by name: two tags
//! with the same name are two inputs. Each input's values are decoded once per result, the
//! first time they are asked for.
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
//!     let emails: &[String] = kv.value.get_all(&email_tag);
//!     let phone: Option<&u32> = kv.value.get_only(&phone_tag).unwrap_or(None);
//!     format!("{}: {:?} {:?}", kv.key, emails, phone)
//! });
//! # let _ = lines;
//! ```

use super::flatten::{Flatten, PCollectionList};
use super::group_by_key::GroupByKey;
use crate::dofn::TupleTag;
use crate::element::{Element, Key, decode, encode};
use crate::kv::KV;
use crate::pcollection::PCollection;
use crate::pipeline::{PTransform, Pipeline};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::sync::{Arc, OnceLock};

/// A value of one of the joined inputs, encoded, with the position of its input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawUnionValue {
    /// Position of the input in the [`KeyedPCollectionTuple`].
    pub union_tag: u32,
    /// The encoded value.
    pub bytes: Vec<u8>,
}

/// One input of a CoGroupByKey: its tag's identity and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct InputTag {
    id: u64,
    name: String,
}

/// The inputs of a CoGroupByKey in order, shared by all its results.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Inputs(Arc<[InputTag]>);

impl Serialize for Inputs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_ref().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Inputs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<InputTag>::deserialize(d).map(|v| Inputs(v.into()))
    }
}

/// Each input's decoded values (a `Vec<V>`), filled in when first asked for.
type Decoded = Box<[OnceLock<Arc<dyn Any + Send + Sync>>]>;

/// The values of one key, per joined input.
#[derive(Clone, Serialize, Deserialize)]
pub struct CoGbkResult {
    inputs: Inputs,
    values: Vec<Vec<Vec<u8>>>,
    #[serde(skip)]
    decoded: OnceLock<Decoded>,
}

/// An input that has several values for a key where [`CoGbkResult::get_only`] expects at
/// most one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CoGroupByKey input '{tag}' has {count} values for this key, expected at most one")]
pub struct SeveralValues {
    /// The input's tag name.
    pub tag: String,
    /// How many values it has.
    pub count: usize,
}

impl CoGbkResult {
    /// The values of the input tagged `tag` (empty if it had none for this key), decoded the
    /// first time they are asked for.
    ///
    /// # Panics
    ///
    /// If `tag` is not an input of this CoGroupByKey — a mistake in the pipeline's code,
    /// which fails the pipeline with a message naming the tag and the transform calling this.
    pub fn get_all<V: Element>(&self, tag: &TupleTag<V>) -> &[V] {
        let i = self.position(tag);
        let slots = self.decoded.get_or_init(|| {
            (0..self.values.len())
                .map(|_| OnceLock::new())
                .collect::<Vec<_>>()
                .into_boxed_slice()
        });
        let any = slots[i].get_or_init(|| {
            let values: Vec<V> = self.values[i]
                .iter()
                .map(|bytes| {
                    decode(bytes).unwrap_or_else(|e| {
                        panic!(
                            "CoGroupByKey input '{}': a value the SDK encoded does not decode: {e}",
                            tag.name()
                        )
                    })
                })
                .collect();
            Arc::new(values)
        });
        any.downcast_ref::<Vec<V>>()
            .expect("a tag's identity fixes its value type")
    }

    /// The single value of the input tagged `tag`, or `None` if it has none; an error if it
    /// has several. Panics as [`get_all`](Self::get_all) does for a tag that is not an input.
    pub fn get_only<V: Element>(&self, tag: &TupleTag<V>) -> Result<Option<&V>, SeveralValues> {
        match self.get_all(tag) {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            several => Err(SeveralValues {
                tag: tag.name().to_string(),
                count: several.len(),
            }),
        }
    }

    /// The position of `tag`'s input.
    fn position<V: Element>(&self, tag: &TupleTag<V>) -> usize {
        self.inputs
            .0
            .iter()
            .position(|t| t.id == tag.id())
            .unwrap_or_else(|| {
                let names: Vec<&str> = self.inputs.0.iter().map(|t| t.name.as_str()).collect();
                panic!(
                    "tag '{}' is not an input of this CoGroupByKey (its inputs: {})",
                    tag.name(),
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Debug for CoGbkResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (tag, values) in self.inputs.0.iter().zip(&self.values) {
            m.entry(&tag.name, &format_args!("{} encoded values", values.len()));
        }
        m.finish()
    }
}

impl PartialEq for CoGbkResult {
    fn eq(&self, other: &Self) -> bool {
        self.inputs == other.inputs && self.values == other.values
    }
}

type Tagger<K> = Arc<dyn Fn(u32) -> PCollection<KV<K, RawUnionValue>>>;

/// Keyed PCollections with a tag each, the input of [`CoGroupByKey`].
pub struct KeyedPCollectionTuple<K> {
    pipeline: Pipeline,
    tags: Vec<InputTag>,
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
    /// Adds an input. A tag can name one input only; tags with the same name are different
    /// inputs (the name only shows in transform names and messages).
    pub fn and<V: Element>(mut self, tag: &TupleTag<V>, input: &PCollection<KV<K, V>>) -> Self {
        if self.tags.iter().any(|t| t.id == tag.id()) {
            self.pipeline.record_error(format!(
                "CoGroupByKey tag '{}' names two inputs",
                tag.name()
            ));
        }
        let same_name = self.tags.iter().filter(|t| t.name == tag.name()).count();
        let name = match same_name {
            0 => format!("Tag[{}]", tag.name()),
            n => format!("Tag[{}#{}]", tag.name(), n + 1),
        };
        self.tags.push(InputTag {
            id: tag.id(),
            name: tag.name().to_string(),
        });
        let input = input.clone();
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
        let inputs = Inputs(input.tags.clone().into());
        PCollectionList::of(tagged)
            .apply("Flatten", Flatten)
            .apply("GroupByKey", GroupByKey)
            .map("ConstructResult", move |kv: KV<K, Vec<RawUnionValue>>| {
                let mut values = vec![Vec::new(); inputs.0.len()];
                for u in kv.value {
                    values[u.union_tag as usize].push(u.bytes);
                }
                KV::new(
                    kv.key,
                    CoGbkResult {
                        inputs: inputs.clone(),
                        values,
                        decoded: OnceLock::new(),
                    },
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_of(tags: &[(&TupleTag<String>, Vec<&str>)]) -> CoGbkResult {
        let inputs = tags
            .iter()
            .map(|(t, _)| InputTag {
                id: t.id(),
                name: t.name().to_string(),
            })
            .collect::<Vec<_>>();
        CoGbkResult {
            inputs: Inputs(inputs.into()),
            values: tags
                .iter()
                .map(|(_, vs)| vs.iter().map(|v| encode(&v.to_string()).unwrap()).collect())
                .collect(),
            decoded: OnceLock::new(),
        }
    }

    #[test]
    fn tags_are_told_apart_by_identity_and_survive_encoding() {
        let (a, b) = (TupleTag::<String>::new("x"), TupleTag::<String>::new("x"));
        let r = result_of(&[(&a, vec!["a1", "a2"]), (&b, vec!["b1"])]);
        assert_eq!(r.get_all(&a), ["a1", "a2"]);
        assert_eq!(r.get_all(&b), ["b1"]);
        assert_eq!(r.get_only(&b), Ok(Some(&"b1".to_string())));
        assert_eq!(
            r.get_only(&a).unwrap_err().to_string(),
            "CoGroupByKey input 'x' has 2 values for this key, expected at most one"
        );
        // Decoded once: a second look returns the same values, not a new decoding.
        assert!(std::ptr::eq(r.get_all(&a), r.get_all(&a)));
        let back: CoGbkResult = decode(&encode(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.get_all(&b), ["b1"]);
    }

    #[test]
    #[should_panic(expected = "tag 'other' is not an input of this CoGroupByKey (its inputs: x)")]
    fn an_unknown_tag_panics_naming_it_and_the_inputs() {
        let (x, other) = (
            TupleTag::<String>::new("x"),
            TupleTag::<String>::new("other"),
        );
        result_of(&[(&x, vec![])]).get_all(&other);
    }
}

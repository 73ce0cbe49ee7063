//! [`MapState`]: a map from keys to values.

use super::{Declarations, StateHandle, StateId, StateKind, state_cell};
use crate::element::{Element, Key};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// A handle to a declared map from `K` to `V`.
pub struct MapState<K, V> {
    id: StateId,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for MapState<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for MapState<K, V> {}

impl<K: Key, V: Element> StateHandle for MapState<K, V> {
    type Cell = MapCell<K, V>;
    fn id(&self) -> StateId {
        self.id
    }
}

/// The map of one key and window.
#[derive(Debug)]
pub struct MapCell<K, V> {
    entries: HashMap<K, V>,
}

impl<K: Key, V: Element> MapCell<K, V> {
    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key)
    }
    /// The value under `key`, to change in place.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key)
    }
    /// Puts `value` under `key`; returns the value it replaced.
    pub fn put(&mut self, key: K, value: V) -> Option<V> {
        self.entries.insert(key, value)
    }
    /// The value under `key`, put there by `default` first if absent.
    pub fn get_or_insert_with(&mut self, key: K, default: impl FnOnce() -> V) -> &mut V {
        self.entries.entry(key).or_insert_with(default)
    }
    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key)
    }
    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }
    /// The entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter()
    }
    /// How many entries the map holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.entries = HashMap::new();
    }
    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

state_cell!(MapCell<K: Key, V: Element>, entries);

impl Declarations {
    /// Declares a map named `name`.
    pub fn map<K: Key, V: Element>(&mut self, name: &str) -> MapState<K, V> {
        let id = self.declare_state(
            name,
            StateKind::Map,
            Arc::new(|| {
                Box::new(MapCell::<K, V> {
                    entries: HashMap::new(),
                })
            }),
        );
        MapState {
            id,
            _t: PhantomData,
        }
    }
}

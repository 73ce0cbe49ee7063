//! Per-key state and timers: what a [stateful DoFn](crate::stateful) declares and reads.
//!
//! A stateful DoFn runs over a keyed input (`KV<K, V>`). The runner brings all elements of a
//! key to one place (as for GroupByKey) and gives the DoFn, for each element, the state of that
//! element's **key and window**: a set of named *cells* the DoFn declared. Cells live as long
//! as their window: when the window expires (its end plus the allowed lateness; for the global
//! window, the end of input) the runner drops them, after calling the callback declared with
//! [`Declarations::on_window_expiration`], if any.
//!
//! The kinds of state, each a typed handle and the cell it opens:
//!
//! | declared with | handle | cell | holds |
//! |---|---|---|---|
//! | [`Declarations::value`] | [`ValueState<T>`] | [`ValueCell<T>`] | one value |
//! | [`Declarations::bag`] | [`BagState<T>`] | [`BagCell<T>`] | values in arrival order |
//! | [`Declarations::combining`] | [`CombiningState<F>`] | [`CombiningCell<F>`] | an accumulator of a [`CombineFn`] |
//! | [`Declarations::map`] | [`MapState<K, V>`] | [`MapCell<K, V>`] | a map |
//! | [`Declarations::set`] | [`SetState<T>`] | [`SetCell<T>`] | a set |
//! | [`Declarations::ordered_list`] | [`OrderedListState<T>`] | [`OrderedListCell<T>`] | values ordered by timestamp, read and cleared by range |
//!
//! A DoFn that needs each key's values in event-time order declares it
//! ([`requires_time_sorted_input`](crate::stateful::StatefulDoFn::requires_time_sorted_input))
//! and the runner hands them over sorted; no buffer of its own is needed.
//!
//! Timers are declared the same way ([`Declarations::timer`], [`Declarations::timer_family`];
//! see [`timer`]); [`Declarations::event_timer`] and its siblings bind the method a timer calls
//! as they declare it.
//!
//! **Declarations are typed.** A DoFn declares its state once, when the pipeline is built, and
//! gets back handles that carry the cell's type: opening a `ValueState<u64>` yields a
//! `ValueCell<u64>`, so reading it as anything else does not compile, and a handle exists only
//! for a declared id. Declaring two cells or timers under one name is a construction error.
//!
//! **Cells are typed in memory and encoded on demand.** A runner keeps each cell as the typed
//! object a handle opens (no encoding on the hot path) and encodes it through [`StateCell`]
//! only to take a snapshot of its store.
//!
//! [`CombineFn`]: crate::transforms::CombineFn

mod bag;
mod combining;
mod map;
mod ordered_list;
mod set;
pub mod timer;
mod value;

pub use bag::{BagCell, BagState};
pub use combining::{CombiningCell, CombiningState};
pub use map::{MapCell, MapState};
pub use ordered_list::{OrderedListCell, OrderedListState};
pub use set::{SetCell, SetState};
pub use timer::{FiredTimer, TimeDomain, Timer, TimerFamily, TimerId, TimerOp, TimerSpec};
pub use value::{ValueCell, ValueState};

use crate::element::CoderError;
use crate::stateful::ErasedCallback;
use std::any::Any;
use std::sync::Arc;

/// Identifies a declared state cell within its DoFn (its position in the declarations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateId(pub u32);

/// What kind of cell a declaration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// [`ValueState`].
    Value,
    /// [`BagState`].
    Bag,
    /// [`CombiningState`].
    Combining,
    /// [`MapState`].
    Map,
    /// [`SetState`].
    Set,
    /// [`OrderedListState`].
    OrderedList,
}

/// One state cell of one (key, window), as a runner's store keeps it: a typed object behind
/// an object-safe trait, which a handle downcasts to its cell type.
pub trait StateCell: Send + Sync {
    /// The cell, for a handle to downcast.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Whether the cell holds nothing (a store may then forget it).
    fn is_empty(&self) -> bool;
    /// The cell's contents, encoded (for a snapshot of the store).
    fn encode(&self) -> Result<Vec<u8>, CoderError>;
    /// Replaces the contents with what [`encode`](Self::encode) produced.
    fn restore(&mut self, bytes: &[u8]) -> Result<(), CoderError>;
}

/// Creates the empty cell of one declaration.
pub type CellFactory = Arc<dyn Fn() -> Box<dyn StateCell> + Send + Sync>;

/// One declared state cell, without its type.
#[derive(Clone)]
pub struct StateSpec {
    /// The name it was declared under.
    pub name: String,
    /// Its kind.
    pub kind: StateKind,
    /// Makes an empty cell.
    pub new_cell: CellFactory,
}

impl std::fmt::Debug for StateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} '{}'", self.kind, self.name)
    }
}

/// The state and timers a stateful DoFn declared, in declaration order; handles index them.
/// With them, the callbacks bound to timers and to the windows' expiry (see
/// [`crate::stateful`]).
#[derive(Clone, Debug, Default)]
pub struct Declarations {
    states: Vec<StateSpec>,
    timers: Vec<TimerSpec>,
    /// The callback bound to each timer, by [`TimerId`], if any.
    timer_callbacks: Vec<Option<ErasedCallback>>,
    expiry: Option<ErasedCallback>,
    errors: Vec<String>,
}

impl Declarations {
    /// No declarations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The declared state cells; a [`StateId`] is a position here.
    pub fn states(&self) -> &[StateSpec] {
        &self.states
    }

    /// The declared timers and timer families; a [`TimerId`] is a position here.
    pub fn timers(&self) -> &[TimerSpec] {
        &self.timers
    }

    /// Mistakes found while declaring (a name used twice), for the pipeline to report.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Whether a callback was declared for the windows' expiry.
    pub fn has_window_expiration(&self) -> bool {
        self.expiry.is_some()
    }

    pub(crate) fn bind_timer(&mut self, timer: TimerId, callback: ErasedCallback) {
        let i = timer.0 as usize;
        if self.timer_callbacks.len() <= i {
            self.timer_callbacks.resize(i + 1, None);
        }
        self.timer_callbacks[i] = Some(callback);
    }

    pub(crate) fn bind_expiry(&mut self, callback: ErasedCallback) {
        if self.expiry.is_some() {
            self.errors
                .push("the windows' expiry has two callbacks".to_string());
        }
        self.expiry = Some(callback);
    }

    /// The callback bound to `timer`, if any.
    pub(crate) fn timer_callback(&self, timer: TimerId) -> Option<&ErasedCallback> {
        self.timer_callbacks.get(timer.0 as usize)?.as_ref()
    }

    /// The callback of the windows' expiry, if any.
    pub(crate) fn expiry_callback(&self) -> Option<&ErasedCallback> {
        self.expiry.as_ref()
    }

    fn check_name(&mut self, name: &str) {
        let taken = self.states.iter().any(|s| s.name == name)
            || self.timers.iter().any(|t| t.name == name);
        if taken {
            self.errors
                .push(format!("state or timer '{name}' is declared twice"));
        }
    }

    pub(crate) fn declare_state(
        &mut self,
        name: &str,
        kind: StateKind,
        new_cell: CellFactory,
    ) -> StateId {
        self.check_name(name);
        self.states.push(StateSpec {
            name: name.to_string(),
            kind,
            new_cell,
        });
        StateId(self.states.len() as u32 - 1)
    }

    pub(crate) fn declare_timer(
        &mut self,
        name: &str,
        domain: TimeDomain,
        family: bool,
    ) -> TimerId {
        self.check_name(name);
        self.timers.push(TimerSpec {
            name: name.to_string(),
            domain,
            family,
        });
        TimerId(self.timers.len() as u32 - 1)
    }
}

/// A typed handle to a declared state cell: what [`StatefulContext::state`] opens.
///
/// [`StatefulContext::state`]: crate::stateful::StatefulContext::state
pub trait StateHandle {
    /// The cell type the handle opens.
    type Cell: StateCell + 'static;
    /// The declaration it stands for.
    fn id(&self) -> StateId;
}

/// The state cells of one (key, window), by [`StateId`]; a cell exists once it was opened.
#[derive(Default)]
pub struct StateSlot {
    cells: Vec<Option<Box<dyn StateCell>>>,
}

impl StateSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the cell `id`, creating it empty from its declaration if it does not exist.
    ///
    /// # Panics
    /// If `id` is not among `specs` or names a cell of another type: a handle used with a DoFn
    /// that did not declare it (the runner reports the panic as an error of the transform).
    pub fn open<C: StateCell + 'static>(&mut self, id: StateId, specs: &[StateSpec]) -> &mut C {
        let i = id.0 as usize;
        let spec = specs
            .get(i)
            .unwrap_or_else(|| panic!("state id {i} was not declared by this DoFn"));
        if self.cells.len() <= i {
            self.cells.resize_with(i + 1, || None);
        }
        let cell = self.cells[i].get_or_insert_with(|| (spec.new_cell)());
        cell.as_any_mut().downcast_mut::<C>().unwrap_or_else(|| {
            panic!(
                "state '{}' is a {:?} cell of another type than the handle's",
                spec.name, spec.kind
            )
        })
    }

    /// Opens two different cells at once, by id (see [`open`](Self::open)).
    ///
    /// # Panics
    /// If `a` and `b` are the same cell, or as [`open`](Self::open) does.
    pub fn open_two<A: StateCell + 'static, B: StateCell + 'static>(
        &mut self,
        a: StateId,
        b: StateId,
        specs: &[StateSpec],
    ) -> (&mut A, &mut B) {
        assert_ne!(a, b, "the same state cell cannot be opened twice at once");
        // Made first, so that both are there to borrow apart.
        self.open::<A>(a, specs);
        self.open::<B>(b, specs);
        let [ca, cb] = self
            .cells
            .get_disjoint_mut([a.0 as usize, b.0 as usize])
            .expect("two different cells, both made above");
        let ca = ca.as_mut().expect("made above").as_any_mut();
        let cb = cb.as_mut().expect("made above").as_any_mut();
        (
            ca.downcast_mut::<A>().expect("checked by open"),
            cb.downcast_mut::<B>().expect("checked by open"),
        )
    }

    /// Whether no cell holds anything.
    pub fn is_empty(&self) -> bool {
        self.cells.iter().flatten().all(|c| c.is_empty())
    }

    /// The non-empty cells, encoded, with their ids (for a snapshot).
    pub fn encode(&self) -> Result<Vec<(StateId, Vec<u8>)>, CoderError> {
        let mut out = Vec::new();
        for (i, cell) in self.cells.iter().enumerate() {
            if let Some(cell) = cell.as_ref().filter(|c| !c.is_empty()) {
                out.push((StateId(i as u32), cell.encode()?));
            }
        }
        Ok(out)
    }

    /// A slot holding the cells that [`encode`](Self::encode) produced.
    pub fn decode(cells: &[(StateId, Vec<u8>)], specs: &[StateSpec]) -> Result<Self, CoderError> {
        let mut slot = StateSlot::new();
        for (id, bytes) in cells {
            let i = id.0 as usize;
            let spec = specs
                .get(i)
                .ok_or_else(|| CoderError(format!("snapshot names undeclared state id {i}")))?;
            let mut cell = (spec.new_cell)();
            cell.restore(bytes)?;
            if slot.cells.len() <= i {
                slot.cells.resize_with(i + 1, || None);
            }
            slot.cells[i] = Some(cell);
        }
        Ok(slot)
    }
}

/// Implements [`StateCell`] for a cell type whose contents are one serializable field.
macro_rules! state_cell {
    ($cell:ident < $($p:ident : $bound:path),* >, $field:ident) => {
        impl<$($p: $bound),*> $crate::state::StateCell for $cell<$($p),*> {
            fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
                self
            }
            fn is_empty(&self) -> bool {
                $cell::is_empty(self)
            }
            fn encode(&self) -> Result<Vec<u8>, $crate::element::CoderError> {
                $crate::element::encode(&self.$field)
            }
            fn restore(&mut self, bytes: &[u8]) -> Result<(), $crate::element::CoderError> {
                self.$field = $crate::element::decode(bytes)?;
                Ok(())
            }
        }
    };
}
pub(crate) use state_cell;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_declared_twice_is_an_error() {
        let mut d = Declarations::new();
        let _a: ValueState<u64> = d.value("count");
        let _b: BagState<String> = d.bag("count");
        assert_eq!(d.errors(), ["state or timer 'count' is declared twice"]);
    }

    #[test]
    fn two_cells_open_at_once() {
        let mut d = Declarations::new();
        let count: ValueState<u64> = d.value("count");
        let seen: BagState<String> = d.bag("seen");
        let mut slot = StateSlot::new();
        {
            let (c, s) =
                slot.open_two::<ValueCell<u64>, BagCell<String>>(count.id(), seen.id(), d.states());
            c.write(c.read_or(0) + 2);
            s.add("x".into());
        }
        let (s, c) =
            slot.open_two::<BagCell<String>, ValueCell<u64>>(seen.id(), count.id(), d.states());
        assert_eq!(c.read_or(0), 2);
        assert_eq!(s.read(), ["x".to_string()]);
        let same = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut slot = StateSlot::new();
            slot.open_two::<ValueCell<u64>, ValueCell<u64>>(count.id(), count.id(), d.states());
        }));
        assert!(same.is_err(), "one cell opened twice at once");
    }

    #[test]
    fn a_slot_round_trips_through_its_encoding() {
        let mut d = Declarations::new();
        let count: ValueState<u64> = d.value("count");
        let seen: BagState<String> = d.bag("seen");
        let mut slot = StateSlot::new();
        slot.open::<ValueCell<u64>>(count.id(), d.states()).write(7);
        slot.open::<BagCell<String>>(seen.id(), d.states())
            .add("a".into());
        let encoded = slot.encode().unwrap();
        let mut back = StateSlot::decode(&encoded, d.states()).unwrap();
        assert_eq!(
            back.open::<ValueCell<u64>>(count.id(), d.states()).read(),
            Some(&7)
        );
        assert_eq!(
            back.open::<BagCell<String>>(seen.id(), d.states()).read(),
            ["a".to_string()]
        );
    }

    #[test]
    #[should_panic(expected = "another type")]
    fn a_foreign_handle_of_another_type_panics() {
        let mut d = Declarations::new();
        let _count: ValueState<u64> = d.value("count");
        let mut other = Declarations::new();
        let foreign: ValueState<String> = other.value("name");
        let mut slot = StateSlot::new();
        slot.open::<ValueCell<String>>(foreign.id(), d.states());
    }
}

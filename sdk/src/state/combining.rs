//! [`CombiningState`]: an accumulator of a [`CombineFn`], fed one input at a time.

use super::{Declarations, StateHandle, StateId, StateKind, state_cell};
use crate::transforms::CombineFn;
use std::marker::PhantomData;
use std::sync::Arc;

/// A handle to a declared combining cell of the combine function `F`.
pub struct CombiningState<F> {
    id: StateId,
    _t: PhantomData<fn() -> F>,
}

impl<F> Clone for CombiningState<F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<F> Copy for CombiningState<F> {}

impl<F: CombineFn> StateHandle for CombiningState<F> {
    type Cell = CombiningCell<F>;
    fn id(&self) -> StateId {
        self.id
    }
}

/// The accumulator of one key and window; empty until the first input.
pub struct CombiningCell<F: CombineFn> {
    combine_fn: Arc<F>,
    accumulator: Option<F::Accumulator>,
}

impl<F: CombineFn> CombiningCell<F> {
    /// Adds one input.
    pub fn add(&mut self, input: F::Input) {
        let f = &self.combine_fn;
        let acc = self
            .accumulator
            .get_or_insert_with(|| f.create_accumulator());
        f.add_input(acc, input);
    }
    /// Merges a partial accumulator in.
    pub fn add_accumulator(&mut self, other: F::Accumulator) {
        match &mut self.accumulator {
            Some(acc) => self.combine_fn.merge_accumulators(acc, other),
            None => self.accumulator = Some(other),
        }
    }
    /// The combined output (of an empty accumulator when nothing was added).
    pub fn read(&self) -> F::Output {
        match &self.accumulator {
            Some(acc) => self.combine_fn.extract_output(acc),
            None => self
                .combine_fn
                .extract_output(&self.combine_fn.create_accumulator()),
        }
    }
    /// The accumulator, if anything was added.
    pub fn accumulator(&self) -> Option<&F::Accumulator> {
        self.accumulator.as_ref()
    }
    /// Forgets what was added.
    pub fn clear(&mut self) {
        self.accumulator = None;
    }
    /// Whether nothing was added since the cell was created or cleared.
    pub fn is_empty(&self) -> bool {
        self.accumulator.is_none()
    }
}

state_cell!(CombiningCell<F: CombineFn>, accumulator);

impl Declarations {
    /// Declares a combining cell named `name` that accumulates with `combine_fn`.
    pub fn combining<F: CombineFn>(&mut self, name: &str, combine_fn: F) -> CombiningState<F> {
        let combine_fn = Arc::new(combine_fn);
        let id = self.declare_state(
            name,
            StateKind::Combining,
            Arc::new(move || {
                Box::new(CombiningCell {
                    combine_fn: combine_fn.clone(),
                    accumulator: None,
                })
            }),
        );
        CombiningState {
            id,
            _t: PhantomData,
        }
    }
}

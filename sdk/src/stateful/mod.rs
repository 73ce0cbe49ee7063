//! Stateful processing: user code with per-key state and timers.
//!
//! A stateful DoFn reads a keyed input, `KV<K, V>`. The runner brings every element of a key
//! to one place (as for a GroupByKey) and calls the DoFn per element with the **state of the
//! element's key and window**: the [cells](crate::state) the DoFn declared, opened through
//! typed handles. [Timers](crate::state::timer) call it back later, at an event time or a
//! processing time, with the same scope.
//!
//! There are three ways to write one, from the shortest:
//!
//! - [`ParDo::stateful_map`]: one closure folds each element into a per-key value and returns
//!   what to emit (Bytewax's `stateful_map`, Flink's `KeyedProcessFunction` without timers).
//! - [`ParDo::with_state`]: a closure declares the state and timers, and closures handle the
//!   elements, the timers and the window's expiry.
//! - The [`StatefulDoFn`] trait, for a DoFn with a type of its own, several timers (each bound
//!   to its own method where it is declared), setup and teardown.
//!
//! ```
//! use sluice_sdk::prelude::*;
//!
//! let p = Pipeline::new();
//! let clicks = p.apply(
//!     "Create",
//!     Create::of(vec![KV::new("ann".to_string(), "home".to_string())]),
//! );
//! // Numbers each user's clicks: 0, 1, 2...
//! let numbered = clicks.apply(
//!     "Number",
//!     ParDo::stateful_map(|next: &mut u64, user: &String, page: String| {
//!         *next += 1;
//!         Some((user.clone(), *next - 1, page))
//!     }),
//! );
//! # let _ = numbered;
//! ```
//!
//! The same with a timer, as closures: each user's pages, in a list emitted when the window
//! ends.
//!
//! ```
//! use sluice_sdk::prelude::*;
//!
//! let p = Pipeline::new();
//! let clicks = p.apply(
//!     "Create",
//!     Create::of(vec![KV::new("ann".to_string(), "home".to_string())]),
//! );
//! let visits = clicks.apply(
//!     "Visits",
//!     ParDo::with_state(|d| (d.bag("pages"), d.timer("end", TimeDomain::EventTime)))
//!         .on_element(|(pages, end), _user: &String, page: String, ctx| {
//!             ctx.state(pages).add(page);
//!             let window_end = ctx.window().max_timestamp();
//!             ctx.timer(end).set(window_end);
//!         })
//!         .on_timer(|(pages, _), user, _timer, ctx| {
//!             let pages: Vec<String> = ctx.state(pages).take();
//!             ctx.output(KV::new(user.clone(), pages));
//!         }),
//! );
//! # let _ = visits;
//! ```
//!
//! # When elements come and timers fire
//!
//! By default, as in Beam, elements come in the order they arrive and event-time timers fire
//! as the input watermark passes them. On bounded input the watermark stays at the beginning of
//! time until the input is exhausted: every element of a key is processed first, then the
//! key's event-time timers fire in timestamp order (a timer set while firing fires in the same
//! pass if its time has come), then pending processing-time timers fire once.
//!
//! A DoFn whose logic needs each key's elements in event-time order declares it with
//! [`requires_time_sorted_input`](StatefulDoFn::requires_time_sorted_input) (Beam's
//! `@RequiresTimeSortedInput`). The runner then holds each element back until the input
//! watermark reaches its timestamp and hands them over in timestamp order, firing the
//! event-time timers due before each one: the result is what a perfect watermark gives, the
//! same on bounded and unbounded input. Elements of equal timestamps come in no defined
//! order (as in Beam): a DoFn that cares orders them itself. On unbounded input an element
//! already behind the watermark goes in at once while within the allowed lateness and is
//! dropped as late after it. Beam's runners flush held elements up to the current watermark instead, so on bounded
//! input (where the watermark jumps to the end at once) Beam processes all of a key's elements,
//! sorted, before any of its timers; Sluice interleaves them by time, which is what the same
//! DoFn gives on Beam in streaming with a watermark that advances element by element.
//!
//! # Mistakes
//!
//! A timer set after its window expires, an output timestamp before the current one, an
//! output to an undeclared tag: the call goes on, and when it returns the transform fails with
//! an error that names the timer or tag (Beam throws at once). Setting a timer thus needs no
//! `?`.
//!
//! [`ParDo::stateful_map`]: crate::transforms::ParDo::stateful_map
//! [`ParDo::with_state`]: crate::transforms::ParDo::with_state

mod callbacks;
mod closures;
mod context;
mod fold;

pub(crate) use callbacks::ErasedCallback;
pub use callbacks::{CallbackResult, ExpiryCallback, TimerCallback};
pub use closures::{StatefulFn, WithState};
pub use context::{StatefulContext, TimerRef};
pub use fold::StatefulMap;

use crate::dofn::DoFnResult;
use crate::element::{Element, Key};
use crate::state::{Declarations, FiredTimer};

/// The context a [`StatefulDoFn`] `F` is called with: [`StatefulContext`] of its key and
/// output types.
pub type Ctx<'a, F> = StatefulContext<'a, <F as StatefulDoFn>::Key, <F as StatefulDoFn>::Out>;

/// Per-key user code with state and timers. See the [module documentation](self).
///
/// ```
/// use sluice_sdk::prelude::*;
///
/// /// Counts each key's elements and emits the count when the window ends.
/// #[derive(Clone)]
/// struct CountPerWindow;
/// struct Handles {
///     count: ValueState<u64>,
///     end: Timer,
/// }
/// impl StatefulDoFn for CountPerWindow {
///     type Key = String;
///     type Value = String;
///     type Out = KV<String, u64>;
///     type State = Handles;
///     fn declare(&self, d: &mut Declarations) -> Handles {
///         let end = d.event_timer("end", Self::flush);
///         Handles { count: d.value("count"), end }
///     }
///     fn process(&mut self, _v: String, st: &Handles, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
///         let count = ctx.state(&st.count);
///         count.write(count.read_or(0) + 1);
///         let window_end = ctx.window().max_timestamp();
///         ctx.timer(&st.end).set(window_end);
///         Ok(())
///     }
/// }
/// impl CountPerWindow {
///     fn flush(&mut self, _: &FiredTimer, st: &Handles, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
///         let n = ctx.state(&st.count).take().unwrap_or(0);
///         ctx.output(KV::new(ctx.key().clone(), n));
///         Ok(())
///     }
/// }
///
/// let p = Pipeline::new();
/// let counts = p
///     .apply("Create", Create::of(vec![KV::new("a".to_string(), "x".to_string())]))
///     .apply("Count", ParDo::stateful(CountPerWindow));
/// # let _ = counts;
/// ```
pub trait StatefulDoFn: Clone + Send + Sync + 'static {
    /// The input's key type.
    type Key: Key;
    /// The input's value type.
    type Value: Element;
    /// The output element type.
    type Out: Element;
    /// The handles of the declared state and timers (often a struct of them).
    type State: Send + Sync + 'static;

    /// Declares the DoFn's state cells and timers, and binds the callbacks of its timers and
    /// of its windows' expiry; called once, when the pipeline is built.
    fn declare(&self, declarations: &mut Declarations) -> Self::State;

    /// Prepares an instance. Called once per instance.
    fn setup(&mut self) -> DoFnResult {
        Ok(())
    }

    /// Processes one element, with the state of its key and window.
    fn process(
        &mut self,
        value: Self::Value,
        state: &Self::State,
        ctx: &mut Ctx<'_, Self>,
    ) -> DoFnResult;

    /// A timer declared without a callback of its own fires; outputs carry the timer's output
    /// timestamp.
    fn on_timer(
        &mut self,
        timer: &FiredTimer,
        state: &Self::State,
        ctx: &mut Ctx<'_, Self>,
    ) -> DoFnResult {
        let _ = (state, ctx);
        Err(format!(
            "timer {:?} fired, but it has no callback and the DoFn does not implement on_timer",
            timer.timer
        )
        .into())
    }

    /// Whether each key's elements must come in event-time order (Beam's
    /// `@RequiresTimeSortedInput`): see [the module documentation](self#when-elements-come-and-timers-fire).
    /// Off by default: elements come as they arrive.
    fn requires_time_sorted_input(&self) -> bool {
        false
    }

    /// Releases what `setup` acquired.
    fn teardown(&mut self) {}
}

//! # Sluice runner core: what every runner shares
//!
//! The layer between the options and the runners (`sluice-options` → this crate →
//! `sluice-direct`, `sluice-rayon`, `sluice-timely` → `sluice-observe` → `sluice-runners`): it
//! names no runner, no observer and no registry.
//!
//! - how runners and observers meet the layers above: a [`PipelineRunner`] runs a pipeline
//!   with a [`RunContext`] ([`run`]); a run reports what it does to a [`RunObserver`]
//!   ([`observe`]);
//! - planning ([`plan`]), running a fused stage ([`stage`]), keeping what stages hand to each
//!   other ([`materialized`]);
//! - GroupAlsoByWindow ([`gabw`]), the keyed store of state and timers ([`state`]) and the
//!   stateful DoFn runner on it ([`stateful`]), the ways of executing keyed nodes
//!   ([`keyed`]), the trigger state machine ([`trigger`]);
//! - side inputs that change while a streaming run runs ([`updating_view`]), the reader tasks
//!   of unbounded sources ([`readers`]), handing one output to several readers
//!   ([`fan_out()`]) and calling user code safely ([`invoke`]).

pub mod checkpoint;
pub mod fan_out;
pub mod gabw;
pub mod invoke;
pub mod keyed;
pub mod materialized;
pub mod observe;
pub mod plan;
pub mod readers;
pub mod run;
pub mod stage;
pub mod state;
pub mod stateful;
pub mod trigger;
pub mod updating_view;

pub use fan_out::fan_out;
pub use gabw::GroupAlsoByWindow;
pub use keyed::{BoundedShard, KeyedKernel, KeyedNode, KeyedShard, KeyedShards};
pub use materialized::Materialized;
pub use observe::{Observer, RunObserver};
pub use plan::{ExecutionPlan, GroupInput, Sink, Stage, StageRoot, check_bounded};
pub use run::{CancelToken, PipelineRunner, RunContext};
pub use stage::{MAX_BATCHES_PER_BUNDLE, StageInstance, StageOutput};
pub use stateful::StatefulDoFnRunner;
pub use trigger::{TriggerContext, TriggerState};
pub use updating_view::UpdatingView;

/// Elements per bundle read from a source or emitted by a grouping.
pub const BUNDLE_SIZE: usize = 64;

/// Counter of records dropped for lateness, reported on the grouping transform (Beam's name).
pub const DROPPED_DUE_TO_LATENESS: &str = "droppedDueToLateness";

/// Counter of records dropped because their window's trigger had finished, reported on the
/// grouping transform (Beam's name).
pub const DROPPED_DUE_TO_CLOSED_WINDOW: &str = "droppedDueToClosedWindow";

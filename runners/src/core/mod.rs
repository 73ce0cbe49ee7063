//! What every runner shares: planning ([`plan`]), running a fused stage ([`stage`]),
//! GroupAlsoByWindow ([`gabw`]) and calling user code safely ([`invoke`]).

pub mod gabw;
pub mod invoke;
pub mod plan;
pub mod stage;

pub use gabw::{GroupAlsoByWindow, GroupedShard, group_bounded};
pub use plan::{ExecutionPlan, Sink, Stage, StageRoot};
pub use stage::{StageInstance, StageOutput};

/// Elements per bundle read from a source or emitted by a grouping.
pub const BUNDLE_SIZE: usize = 64;

/// Counter of records dropped for lateness, reported on the grouping transform (Beam's name).
pub const DROPPED_DUE_TO_LATENESS: &str = "droppedDueToLateness";

//! What every runner shares: planning ([`plan`]), GroupAlsoByWindow ([`gabw`]) and calling
//! user code safely ([`invoke`]).

pub mod gabw;
pub mod invoke;
pub mod plan;

pub use gabw::GroupAlsoByWindow;
pub use plan::{ExecutionPlan, Sink, Stage, StageRoot};

//! The transforms of the model.
//!
//! | kind | transforms |
//! |---|---|
//! | roots | [`Create`], [`Impulse`], [`Read`](crate::source::Read) |
//! | element-wise | [`ParDo`], [`ParDo::stateful`] (per-key state and timers), [`Map`], [`FlatMap`], [`Filter`], [`MapWithContext`], [`WithTimestamps`], [`WindowInto`], [`Keys`], [`Values`], [`KvSwap`], [`Partition`] |
//! | grouping | [`GroupByKey`], [`CoGroupByKey`], [`Combine`], [`Count`], [`Distinct`], [`Latest`] |
//! | on state and timers | [`Deduplicate`], [`GroupIntoBatches`] |
//! | structure | [`Flatten`], [`Reshuffle`] |
//!
//! Each is applied with `apply(name, transform)` on a PCollection (or on the pipeline, for
//! roots). Composite ones expand into the primitives ParDo, GroupByKey, Flatten, Reshuffle,
//! Read and View.

pub mod bounded_grouping;
pub mod co_group_by_key;
pub mod combine;
pub mod count;
pub mod create;
pub mod deduplicate;
pub mod distinct;
mod explode_slices;
pub mod flatten;
pub mod group_by_key;
pub mod group_into_batches;
pub mod kv_transforms;
pub mod latest;
pub mod map;
pub mod pardo;
pub mod partition;
mod per_window;
pub mod reshuffle;
pub mod stateful_pardo;
pub(crate) mod tagged;
pub mod window_into;
pub mod with_timestamps;

pub use co_group_by_key::{CoGbkResult, CoGroupByKey, KeyedPCollectionTuple, SeveralValues};
pub use combine::combiners::{CountFn, Max, Mean, Min, Sum, ToF64, ToList, Top};
pub use combine::{Combine, CombineFn, CombineGlobally, CombinePerKey};
pub use count::Count;
pub use create::{Create, Impulse};
pub use deduplicate::Deduplicate;
pub use distinct::Distinct;
pub use flatten::{Flatten, PCollectionList};
pub use group_by_key::GroupByKey;
pub use group_into_batches::GroupIntoBatches;
pub use kv_transforms::{Keys, KvSwap, Values};
pub use latest::Latest;
pub use map::{ElementMeta, Filter, FlatMap, Map, MapWithContext};
pub use pardo::{PCollectionTuple, ParDo, ParDoWithOutputs};
pub use partition::Partition;
pub use reshuffle::Reshuffle;
pub use stateful_pardo::{StatefulParDo, StatefulParDoWithOutputs};
pub use window_into::WindowInto;
pub use with_timestamps::WithTimestamps;

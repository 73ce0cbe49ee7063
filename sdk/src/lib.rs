//! # Sluice SDK: the pipeline model
//!
//! Sluice runs data-processing pipelines in the Apache Beam model. This crate is the *model*:
//! what a pipeline computes, independent of how it runs. A runner (crate `sluice-runners`)
//! executes it.
//!
//! A [`Pipeline`](pipeline::Pipeline) is a graph of transforms over
//! [`PCollection`](pcollection::PCollection)s: typed, possibly unbounded collections whose
//! elements each carry an event [`Timestamp`](time::Timestamp) and a
//! [`Window`](window::Window). Transforms are applied under unique hierarchical names:
//!
//! ```
//! use sluice_sdk::prelude::*;
//!
//! let p = Pipeline::new();
//! let counts = p
//!     .apply("Lines", Create::of(vec!["to be or not to be".to_string()]))
//!     .flat_map("Split", |line: String| line.split(' ').map(str::to_string).collect::<Vec<_>>())
//!     .apply("Count", Count::per_element());
//! sluice_sdk::testing::assert_that(&counts).contains_in_any_order(vec![
//!     KV::new("to".to_string(), 2), KV::new("be".to_string(), 2),
//!     KV::new("or".to_string(), 1), KV::new("not".to_string(), 1),
//! ]);
//! // A runner executes it: sluice_runners::run(&p, &options)
//! ```
//!
//! Where to look:
//! - [`time`], [`window`], [`windowing`], [`trigger`], [`pane`]: event time and windowing;
//! - [`transforms`]: every transform, [`dofn`] for user code, [`side_input`] for views;
//! - [`element`]: what may be an element, and its coder;
//! - [`graph`]: the logical plan that runners read;
//! - [`metrics`], [`testing`]: observing and checking pipelines.

pub mod commit;
pub mod dofn;
pub mod element;
pub mod error;
pub mod graph;
pub mod kv;
pub mod metrics;
pub mod pane;
pub mod pcollection;
pub mod pipeline;
pub mod result;
pub mod side_input;
pub mod source;
pub mod state;
pub mod stateful;
pub mod testing;
pub mod time;
pub mod transforms;
pub mod trigger;
pub mod window;
pub mod windowed_value;
pub mod windowing;

pub use kv::KV;

/// The names most pipelines use.
pub mod prelude {
    pub use crate::dofn::{BundleContext, DoFn, DoFnResult, ProcessContext, TupleTag};
    pub use crate::element::{Element, Key};
    pub use crate::error::{BoxError, PipelineError};
    pub use crate::kv::KV;
    pub use crate::pane::{PaneInfo, PaneTiming};
    pub use crate::pcollection::PCollection;
    pub use crate::pipeline::{PBegin, PTransform, Pipeline};
    pub use crate::result::{PipelineResult, PipelineState};
    pub use crate::side_input::{PCollectionView, View};
    pub use crate::source::{
        BoundedSource, Read, ReadUnbounded, SourceReader, UnboundedReader, UnboundedSource,
    };
    pub use crate::state::{
        BagState, CombiningState, Declarations, FiredTimer, MapState, OrderedListState, SetState,
        TimeDomain, Timer, TimerFamily, ValueState,
    };
    pub use crate::stateful::{Ctx, StatefulContext, StatefulDoFn};
    pub use crate::time::{Duration, Timestamp};
    pub use crate::transforms::*;
    pub use crate::trigger::{AccumulationMode, TimestampCombiner, Trigger};
    pub use crate::window::{
        FixedWindows, GlobalWindows, IntervalWindow, Sessions, SlidingWindows, Window, WindowFn,
    };
    pub use crate::windowed_value::{TimestampedValue, WindowedValue};
}

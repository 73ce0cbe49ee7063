//! One keyed store for everything keyed: state cells, timers and watermark holds.
//!
//! As Beam's runners-core keeps StateInternals and TimerInternals under its ReduceFnRunner and
//! its stateful DoFn runner, Sluice keeps per shard one [`KeyedStore`]: for each (encoded key,
//! window), a [`Slot`] with the state cells by state id and the pending timers. The
//! [`TimerQueue`] orders the timers of all slots by firing time, per clock, and counts their
//! output timestamps: the store's watermark hold. A checkpoint takes a [`StoreSnapshot`] of
//! it; a cluster runner partitions keys over stores by the key's stable hash.
//!
//! Cells are typed objects while a job runs (a handle opens them with a downcast, no
//! decoding), and encoded only in a snapshot.

pub mod store;
pub mod timers;

pub use store::{
    KeyedSnapshot, KeyedStore, RecordSnapshot, Slot, SlotContents, SlotSnapshot, StoreSnapshot,
    decode_state_slot,
};
pub use timers::{PendingTimer, TimerQueue};

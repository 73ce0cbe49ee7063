//! Checkpoints: where a consistent snapshot of a running pipeline is kept, so that a job that
//! crashes resumes where it was instead of re-reading everything since its last commit.
//!
//! A checkpoint is a set of **parts** — each keyed shard's store, each source's position,
//! whatever a runner snapshots — written first, and a **manifest** written last, which lists
//! the parts with their sizes and checksums. Only the manifest makes a checkpoint complete: a
//! crash while the parts are written leaves a checkpoint without one, which is ignored and
//! removed later. Writing the manifest is atomic on every store (a rename on a local disk, a
//! single put on object storage), so a reader sees a checkpoint whole or not at all.
//!
//! [`CheckpointStorage`] keeps the checkpoints of one job in a directory or under an object
//! storage prefix ([`storage`]); [`Manifest`] says what a checkpoint holds and for which
//! pipeline ([`manifest`]). Restoring ([`restore`]) takes the newest complete checkpoint, checks that it
//! belongs to this pipeline (its plan's fingerprint), this number of key shards and a format
//! this build reads — a mismatch is an error naming the directory, never a half-used
//! checkpoint — and verifies each part as it is read; a damaged checkpoint (a part missing,
//! cut short or changed) is passed over for the one before it, and the fallback is said.
//!
//! Layout under the root, for checkpoint 42:
//!
//! ```text
//! chk-00000000000000000042/PART...        the parts
//! chk-00000000000000000042.manifest       written last: the checkpoint is complete
//! ```

pub mod error;
pub mod keyed;
pub mod manifest;
pub mod restore;
pub mod storage;

pub use error::CheckpointError;
pub use manifest::{FORMAT_VERSION, Manifest, PartEntry};
pub use restore::{Expected, Restorable};
pub use storage::CheckpointStorage;

pub use sluice_sdk::commit::CheckpointId;

/// The pseudo-transform a run's checkpoint figures are reported under in its result's
/// metrics: distributions [`CHECKPOINT_BYTES`] and [`CHECKPOINT_MILLIS`] (one value per
/// complete checkpoint) and the counter [`RESTORE_MILLIS`].
pub const CHECKPOINT_METRICS: &str = "(checkpoints)";

/// The size of each complete checkpoint, in bytes (its parts).
pub const CHECKPOINT_BYTES: &str = "bytes";

/// How long each checkpoint took, from the pause to its manifest, in milliseconds.
pub const CHECKPOINT_MILLIS: &str = "millis";

/// How long the restore at the start took (reading and verifying the checkpoint, putting the
/// state back), in milliseconds.
pub const RESTORE_MILLIS: &str = "restoreMillis";

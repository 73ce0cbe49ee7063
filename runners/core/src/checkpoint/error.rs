//! [`CheckpointError`]: why checkpoints cannot be written or restored.

use super::CheckpointId;
use super::manifest::FORMAT_VERSION;

/// Why checkpoints cannot be written or restored. Every message names the directory.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The location cannot be used: not a directory that can be made or written, or a kind of
    /// storage this build does not support.
    #[error("checkpoint directory {dir}: {reason}")]
    Unusable {
        /// The checkpoint directory, as given.
        dir: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing failed (a full disk, a lost connection).
    #[error("checkpoint directory {dir}: cannot {action}: {reason}")]
    Io {
        /// The checkpoint directory, as given.
        dir: String,
        /// What was being done (`write part keyed-0 of checkpoint 7`).
        action: String,
        /// The store's error.
        reason: String,
    },
    /// The newest complete checkpoint was written by another pipeline.
    #[error(
        "checkpoint directory {dir}: checkpoint {checkpoint} is of another pipeline \
         (fingerprint {found}, this one is {expected}): use another directory, or empty this one"
    )]
    OtherPipeline {
        /// The checkpoint directory, as given.
        dir: String,
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// Its fingerprint.
        found: String,
        /// This pipeline's.
        expected: String,
    },
    /// The newest complete checkpoint splits keyed state into another number of shards.
    #[error(
        "checkpoint directory {dir}: checkpoint {checkpoint} holds keyed state in {found} \
         shards, and this run has {expected}: run with the parallelism that wrote it"
    )]
    KeyShards {
        /// The checkpoint directory, as given.
        dir: String,
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// Its shards.
        found: u32,
        /// This run's.
        expected: u32,
    },
    /// The newest complete checkpoint is of a format this build does not read.
    #[error(
        "checkpoint directory {dir}: checkpoint {checkpoint} has format {found}, and this \
         build reads format {FORMAT_VERSION}"
    )]
    UnknownFormat {
        /// The checkpoint directory, as given.
        dir: String,
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// Its format.
        found: u32,
    },
    /// With exactly-once sinks, the newest complete checkpoint is damaged: restoring an older
    /// one would write again what the damaged one committed.
    #[error(
        "checkpoint directory {dir}: checkpoint {damaged} is damaged ({why}); with \
         --exactly-once the run does not fall back to checkpoint {fallback}, whose restore would \
         write again what {damaged} committed. Repair or remove checkpoint {damaged} (falling \
         back is allowed without --exactly-once)"
    )]
    NoFallback {
        /// The checkpoint directory, as given.
        dir: String,
        /// The damaged checkpoint.
        damaged: CheckpointId,
        /// What is wrong with it.
        why: String,
        /// The checkpoint a fallback would restore.
        fallback: CheckpointId,
    },
}

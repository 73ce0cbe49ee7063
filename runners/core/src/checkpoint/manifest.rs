//! What a checkpoint holds: the manifest, written last.

use serde::{Deserialize, Serialize};

/// The checkpoint format this build writes and reads. A checkpoint of another format is
/// refused by name rather than misread. Format 2 keeps, with a stateful DoFn's store, the
/// elements it holds back for time-sorted input.
pub const FORMAT_VERSION: u32 = 2;

/// A complete checkpoint's description: which pipeline and format it is of, and every part
/// it holds, with the size and checksum each part must have when read back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The checkpoint format ([`FORMAT_VERSION`] when written by this build).
    pub format: u32,
    /// The checkpoint's number.
    pub checkpoint: super::CheckpointId,
    /// The fingerprint of the plan that wrote it (hex): a checkpoint restores only the same
    /// pipeline.
    pub fingerprint: String,
    /// How many shards keyed state is split into: state partitioned by key hash cannot be
    /// restored into another number of shards.
    pub key_shards: u32,
    /// When it was completed, in milliseconds since the epoch.
    pub completed_ms: i64,
    /// Its parts.
    pub parts: Vec<PartEntry>,
}

/// One part of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    /// Its name within the checkpoint (`keyed-3-of-4`, `source-Read-0`...).
    pub name: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// The CRC-32 of its bytes.
    pub crc32: u32,
}

impl Manifest {
    /// The entry of part `name`, if the checkpoint has one.
    pub fn part(&self, name: &str) -> Option<&PartEntry> {
        self.parts.iter().find(|p| p.name == name)
    }
}

impl PartEntry {
    /// The entry for part `name` holding `bytes`.
    pub fn of(name: &str, bytes: &[u8]) -> Self {
        PartEntry {
            name: name.to_string(),
            bytes: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
        }
    }

    /// Whether `bytes` are what this entry recorded: the same length and checksum.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        self.bytes == bytes.len() as u64 && self.crc32 == crc32fast::hash(bytes)
    }
}

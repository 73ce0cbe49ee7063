//! Restoring: the newest complete checkpoint this run may restore, read and verified part by
//! part ([`CheckpointStorage::latest`]), and the checks a checkpoint must pass to be
//! restored ([`Expected`]) or to stand in for a newer, damaged one ([`Restorable`]); and the
//! pending checkpoint a restart settles ([`CheckpointStorage::pending`]).

use super::CheckpointId;
use super::error::CheckpointError;
use super::manifest::{FORMAT_VERSION, Manifest};
use super::storage::{CheckpointStorage, manifest_path, parts_prefix, pending_path};
use object_store::path::Path;
use std::collections::BTreeMap;

/// What a checkpoint must match to be restored by this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The fingerprint of this run's plan.
    pub fingerprint: u64,
    /// How many shards this run splits keyed state into.
    pub key_shards: u32,
}

/// A checkpoint ready to restore: its manifest and every part, read and verified; and the
/// newer complete checkpoints passed over because they were damaged, with why.
#[derive(Debug)]
pub struct Restorable {
    /// The checkpoint's manifest.
    pub manifest: Manifest,
    /// Its parts' bytes, by name.
    pub parts: BTreeMap<String, Vec<u8>>,
    /// Newer checkpoints that could not be used, newest first: (checkpoint, why).
    pub passed_over: Vec<(CheckpointId, String)>,
}

impl Restorable {
    /// With exactly-once sinks (`exactly_once`), a checkpoint restored in place of a newer,
    /// damaged one is refused: that one's outputs may be committed.
    pub fn check_fallback(&self, dir: &str, exactly_once: bool) -> Result<(), CheckpointError> {
        match self.passed_over.first() {
            Some((damaged, why)) if exactly_once => Err(CheckpointError::NoFallback {
                dir: dir.to_string(),
                damaged: *damaged,
                why: why.clone(),
                fallback: self.manifest.checkpoint,
            }),
            _ => Ok(()),
        }
    }
}

impl CheckpointStorage {
    /// The pending checkpoint newer than checkpoint `after` (the newest complete one), read
    /// and verified, if there is one and it is whole; a damaged one is `None`, and said.
    pub async fn pending(
        &self,
        after: Option<CheckpointId>,
        expected: Expected,
    ) -> Result<Option<Restorable>, CheckpointError> {
        let newest = self
            .pending_checkpoints()
            .await?
            .into_iter()
            .filter(|id| after.is_none_or(|a| *id > a))
            .max();
        let Some(id) = newest else {
            return Ok(None);
        };
        match self
            .read_checkpoint(id, &pending_path(id), expected)
            .await?
        {
            Ok((manifest, parts)) => Ok(Some(Restorable {
                manifest,
                parts,
                passed_over: Vec::new(),
            })),
            Err(why) => {
                tracing::warn!(dir = %self.dir, checkpoint = id, "pending checkpoint passed over: {why}");
                Ok(None)
            }
        }
    }

    /// The newest complete checkpoint that this run can restore, its parts read and verified;
    /// `None` when there is none. A checkpoint of another pipeline, key sharding or format is
    /// an error; a damaged one (a manifest that does not parse, a part missing or not what
    /// the manifest says) is passed over for the one before it, and named in the result.
    pub async fn latest(&self, expected: Expected) -> Result<Option<Restorable>, CheckpointError> {
        let mut passed_over = Vec::new();
        for id in self.list().await?.0.into_iter().rev() {
            match self
                .read_checkpoint(id, &manifest_path(id), expected)
                .await?
            {
                Ok((manifest, parts)) => {
                    return Ok(Some(Restorable {
                        manifest,
                        parts,
                        passed_over,
                    }));
                }
                Err(why) => {
                    tracing::warn!(dir = %self.dir, checkpoint = id, "checkpoint passed over: {why}");
                    passed_over.push((id, why));
                }
            }
        }
        Ok(None)
    }

    /// Reads checkpoint `id`: an error when it is not this run's to restore, `Ok(Err(why))`
    /// when it is damaged.
    #[allow(clippy::type_complexity)]
    async fn read_checkpoint(
        &self,
        id: CheckpointId,
        manifest_at: &Path,
        expected: Expected,
    ) -> Result<Result<(Manifest, BTreeMap<String, Vec<u8>>), String>, CheckpointError> {
        let manifest: Manifest = match self.read(manifest_at).await {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(m) => m,
                Err(e) => return Ok(Err(format!("its manifest does not parse: {e}"))),
            },
            Err(e) => return Ok(Err(format!("its manifest cannot be read: {e}"))),
        };
        if manifest.format != FORMAT_VERSION {
            return Err(CheckpointError::UnknownFormat {
                dir: self.dir.clone(),
                checkpoint: id,
                found: manifest.format,
            });
        }
        let fingerprint = format!("{:016x}", expected.fingerprint);
        if manifest.fingerprint != fingerprint {
            return Err(CheckpointError::OtherPipeline {
                dir: self.dir.clone(),
                checkpoint: id,
                found: manifest.fingerprint,
                expected: fingerprint,
            });
        }
        if manifest.key_shards != expected.key_shards {
            return Err(CheckpointError::KeyShards {
                dir: self.dir.clone(),
                checkpoint: id,
                found: manifest.key_shards,
                expected: expected.key_shards,
            });
        }
        let mut parts = BTreeMap::new();
        for entry in &manifest.parts {
            let path = parts_prefix(id).join(entry.name.as_str());
            match self.read(&path).await {
                Ok(bytes) if entry.matches(&bytes) => {
                    parts.insert(entry.name.clone(), bytes);
                }
                Ok(bytes) => {
                    return Ok(Err(format!(
                        "part {} is not what its manifest says ({} bytes, CRC-32 {:08x}; \
                         expected {} bytes, {:08x})",
                        entry.name,
                        bytes.len(),
                        crc32fast::hash(&bytes),
                        entry.bytes,
                        entry.crc32
                    )));
                }
                Err(e) => return Ok(Err(format!("part {} cannot be read: {e}", entry.name))),
            }
        }
        Ok(Ok((manifest, parts)))
    }
}

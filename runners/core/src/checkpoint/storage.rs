//! Where a job's checkpoints are kept: a directory, through the `object_store` crate (whose
//! local store writes a file under a temporary name and renames it, so a manifest appears
//! whole or not at all).

use super::CheckpointId;
use super::error::CheckpointError;
use super::manifest::{Manifest, PartEntry};
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

/// The checkpoints of one job, in one directory.
#[derive(Clone, Debug)]
pub struct CheckpointStorage {
    store: Arc<dyn ObjectStore>,
    /// The location as the user gave it, for messages.
    pub(super) dir: String,
    /// The directory, when the checkpoints are on a local disk (where a checkpoint's emptied
    /// directory is removed with its last part: object storage has no directories).
    local: Option<std::path::PathBuf>,
}

/// The store of `s3://` + `location` (`BUCKET/PREFIX`).
#[cfg(feature = "s3")]
fn open_s3(location: &str, settings: &[(&str, &str)]) -> Result<Arc<dyn ObjectStore>, String> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    if bucket.is_empty() {
        return Err("no bucket: expected s3://BUCKET/PREFIX".into());
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (key, value) in settings {
        let key: AmazonS3ConfigKey = key
            .parse()
            .map_err(|e| format!("object storage setting {key}: {e}"))?;
        builder = builder.with_config(key, *value);
    }
    let s3 = builder.build().map_err(|e| e.to_string())?;
    let prefix = prefix.trim_matches('/');
    Ok(if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
    })
}

/// Without the `s3` feature, `s3://` is refused.
#[cfg(not(feature = "s3"))]
fn open_s3(_: &str, _: &[(&str, &str)]) -> Result<Arc<dyn ObjectStore>, String> {
    Err(
        "this build keeps no checkpoints in S3: build with the cargo feature `s3` (of \
         sluice-runner-core)"
            .into(),
    )
}

/// The name of checkpoint `id`'s manifest.
pub(super) fn manifest_path(id: CheckpointId) -> Path {
    Path::from(format!("chk-{id:020}.manifest"))
}

/// The name of checkpoint `id`'s pending manifest: its parts are written, and its sinks are
/// committing (see [`CheckpointStorage::prepare`]).
pub(super) fn pending_path(id: CheckpointId) -> Path {
    Path::from(format!("chk-{id:020}.pending"))
}

/// The prefix of checkpoint `id`'s parts.
pub(super) fn parts_prefix(id: CheckpointId) -> Path {
    Path::from(format!("chk-{id:020}"))
}

/// The checkpoint a top-level name belongs to: `chk-N.manifest` (a manifest) or `chk-N` (its
/// parts).
fn checkpoint_of(name: &str) -> Option<(CheckpointId, bool)> {
    let rest = name.strip_prefix("chk-")?;
    match rest.strip_suffix(".manifest") {
        Some(id) => id.parse().ok().map(|id| (id, true)),
        None => rest.parse().ok().map(|id| (id, false)),
    }
}

impl CheckpointStorage {
    /// The checkpoints at `dir`: a directory (made if missing; also `file://PATH`), or
    /// `s3://BUCKET/PREFIX` on S3-compatible storage (with the cargo feature `s3`), configured
    /// as the AWS tools are, from the environment (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`...).
    pub fn open(dir: &str) -> Result<Self, CheckpointError> {
        Self::open_with(dir, &[])
    }

    /// [`open`](Self::open), with object-storage settings given here rather than in the
    /// environment (`("aws_endpoint", "http://127.0.0.1:9000")`...; ignored for a directory).
    pub fn open_with(dir: &str, settings: &[(&str, &str)]) -> Result<Self, CheckpointError> {
        let unusable = |reason: String| CheckpointError::Unusable {
            dir: dir.to_string(),
            reason,
        };
        let local = match dir.split_once("://") {
            None => dir,
            Some(("file", path)) => path,
            Some(("s3", location)) => {
                return Ok(CheckpointStorage {
                    store: open_s3(location, settings).map_err(unusable)?,
                    dir: dir.to_string(),
                    local: None,
                });
            }
            Some((scheme, _)) => {
                return Err(unusable(format!(
                    "{scheme}:// is not a kind of storage checkpoints are kept in (a \
                     directory, file://PATH or s3://BUCKET/PREFIX)"
                )));
            }
        };
        std::fs::create_dir_all(local).map_err(|e| unusable(format!("cannot make it: {e}")))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(local)
            .map_err(|e| unusable(e.to_string()))?;
        Ok(CheckpointStorage {
            store: Arc::new(store),
            dir: dir.to_string(),
            local: Some(std::path::PathBuf::from(local)),
        })
    }

    /// The directory, as given.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    fn io(&self, action: String, e: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::Io {
            dir: self.dir.clone(),
            action,
            reason: e.to_string(),
        }
    }

    /// Writes part `name` of checkpoint `id`; returns its manifest entry.
    pub async fn write_part(
        &self,
        id: CheckpointId,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<PartEntry, CheckpointError> {
        let entry = PartEntry::of(name, &bytes);
        let path = parts_prefix(id).join(name);
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| self.io(format!("write part {name} of checkpoint {id}"), e))?;
        Ok(entry)
    }

    /// Completes a checkpoint whose parts are written: writes its manifest, last.
    pub async fn complete(&self, manifest: &Manifest) -> Result<(), CheckpointError> {
        let id = manifest.checkpoint;
        self.put_manifest(&manifest_path(id), manifest, "manifest")
            .await?;
        // The pending manifest, if there was one, has done its work.
        self.remove_pending(id).await
    }

    /// Writes `manifest` at `path` (`what`: which manifest, for errors).
    async fn put_manifest(
        &self,
        path: &Path,
        manifest: &Manifest,
        what: &str,
    ) -> Result<(), CheckpointError> {
        let id = manifest.checkpoint;
        let json = serde_json::to_vec_pretty(manifest)
            .map_err(|e| self.io(format!("encode the {what} of checkpoint {id}"), e))?;
        self.store
            .put(path, PutPayload::from(json))
            .await
            .map_err(|e| self.io(format!("write the {what} of checkpoint {id}"), e))?;
        Ok(())
    }

    /// Removes checkpoint `id`'s pending manifest, if it has one.
    async fn remove_pending(&self, id: CheckpointId) -> Result<(), CheckpointError> {
        match self.store.delete(&pending_path(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.io(format!("remove the pending manifest of checkpoint {id}"), e)),
        }
    }

    /// Marks a checkpoint whose parts are written as **pending**: its sinks are about to
    /// commit what it covers, and [`complete`](Self::complete) follows once they have. A
    /// restart that finds a pending checkpoint newer than the newest complete one asks the
    /// sinks whether they committed it ([`pending`](Self::pending)): a crash between a sink's
    /// commit and the manifest must not lose the checkpoint the committed output belongs to.
    pub async fn prepare(&self, manifest: &Manifest) -> Result<(), CheckpointError> {
        self.put_manifest(
            &pending_path(manifest.checkpoint),
            manifest,
            "pending manifest",
        )
        .await
    }

    /// Removes a pending checkpoint that will not complete (its sinks did not commit it), its
    /// parts too: the run goes on from the one before, and writes its number again.
    pub async fn discard_pending(&self, id: CheckpointId) -> Result<(), CheckpointError> {
        self.remove_parts(id).await?;
        self.remove_pending(id).await
    }

    /// The checkpoints in the directory: (complete ones, ones with parts but no manifest), each
    /// in ascending order.
    pub(super) async fn list(
        &self,
    ) -> Result<(Vec<CheckpointId>, Vec<CheckpointId>), CheckpointError> {
        let listed = self
            .store
            .list_with_delimiter(None)
            .await
            .map_err(|e| self.io("list the checkpoints".into(), e))?;
        let mut complete: Vec<CheckpointId> = listed
            .objects
            .iter()
            .filter_map(|o| checkpoint_of(o.location.filename()?))
            .filter_map(|(id, manifest)| manifest.then_some(id))
            .collect();
        complete.sort_unstable();
        let mut incomplete: Vec<CheckpointId> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| checkpoint_of(p.filename()?))
            .filter_map(|(id, manifest)| (!manifest).then_some(id))
            .filter(|id| complete.binary_search(id).is_err())
            .collect();
        incomplete.sort_unstable();
        Ok((complete, incomplete))
    }

    /// The numbers of the complete checkpoints, oldest first.
    pub async fn complete_checkpoints(&self) -> Result<Vec<CheckpointId>, CheckpointError> {
        Ok(self.list().await?.0)
    }

    /// The pending manifest of checkpoint `id`, if it has one.
    pub async fn pending_manifest(
        &self,
        id: CheckpointId,
    ) -> Result<Option<Manifest>, CheckpointError> {
        match self.read(&pending_path(id)).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.io(format!("read the pending manifest of checkpoint {id}"), e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.io(format!("read the pending manifest of checkpoint {id}"), e)),
        }
    }

    /// The numbers of the pending checkpoints (see [`prepare`](Self::prepare)), oldest first.
    pub async fn pending_checkpoints(&self) -> Result<Vec<CheckpointId>, CheckpointError> {
        let listed = self
            .store
            .list_with_delimiter(None)
            .await
            .map_err(|e| self.io("list the checkpoints".into(), e))?;
        let mut ids: Vec<CheckpointId> = listed
            .objects
            .iter()
            .filter_map(|o| {
                let name = o.location.filename()?;
                name.strip_prefix("chk-")?
                    .strip_suffix(".pending")?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The numbers of the checkpoints with parts but no manifest (being written, or left by a
    /// crash), oldest first.
    pub async fn incomplete_checkpoints(&self) -> Result<Vec<CheckpointId>, CheckpointError> {
        Ok(self.list().await?.1)
    }

    /// Part `name` of checkpoint `id`, if it is there (for a runner whose processes write the
    /// parts of one checkpoint, and one of them its manifest).
    pub async fn read_part(
        &self,
        id: CheckpointId,
        name: &str,
    ) -> Result<Option<Vec<u8>>, CheckpointError> {
        match self.read(&parts_prefix(id).join(name)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.io(format!("read part {name} of checkpoint {id}"), e)),
        }
    }

    /// The bytes of the object at `path`.
    pub(super) async fn read(&self, path: &Path) -> object_store::Result<Vec<u8>> {
        Ok(self.store.get(path).await?.bytes().await?.into())
    }

    /// Removes every checkpoint but the newest `keep` complete ones (at least one is kept),
    /// and the parts of checkpoints older than the newest complete one that never completed;
    /// returns the numbers removed. A manifest goes first, so a checkpoint stops being
    /// complete before any of its parts goes.
    pub async fn prune(&self, keep: usize) -> Result<Vec<CheckpointId>, CheckpointError> {
        let (complete, incomplete) = self.list().await?;
        let keep = keep.max(1);
        let Some(&newest) = complete.last() else {
            return Ok(Vec::new());
        };
        let mut removed = Vec::new();
        let old_complete = complete.len().saturating_sub(keep);
        for &id in &complete[..old_complete] {
            self.store
                .delete(&manifest_path(id))
                .await
                .map_err(|e| self.io(format!("remove the manifest of checkpoint {id}"), e))?;
            self.remove_parts(id).await?;
            removed.push(id);
        }
        for &id in incomplete.iter().filter(|&&id| id < newest) {
            self.remove_parts(id).await?;
            removed.push(id);
        }
        removed.sort_unstable();
        Ok(removed)
    }

    /// Removes the parts of every incomplete checkpoint newer than `after` (the one a run
    /// restores): a run that numbers its checkpoints after `after` must not find parts a
    /// crashed run wrote under the same numbers.
    pub async fn remove_incomplete_after(
        &self,
        after: CheckpointId,
    ) -> Result<Vec<CheckpointId>, CheckpointError> {
        let mut removed = Vec::new();
        for id in self.list().await?.1 {
            if id > after {
                self.remove_parts(id).await?;
                removed.push(id);
            }
        }
        Ok(removed)
    }

    async fn remove_parts(&self, id: CheckpointId) -> Result<(), CheckpointError> {
        let prefix = parts_prefix(id);
        let mut listed = self.store.list(Some(&prefix));
        let mut paths = Vec::new();
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(|e| self.io(format!("list checkpoint {id}"), e))?;
            paths.push(meta.location);
        }
        for path in paths {
            self.store
                .delete(&path)
                .await
                .map_err(|e| self.io(format!("remove {path}"), e))?;
        }
        if let Some(root) = &self.local {
            // Emptied, the checkpoint's directory goes too (else every pruned checkpoint
            // would stay listed, an empty directory).
            let _ = std::fs::remove_dir(root.join(parts_prefix(id).as_ref()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Expected, FORMAT_VERSION};

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sluice-checkpoint-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    const EXPECTED: Expected = Expected {
        fingerprint: 0xfeed,
        key_shards: 2,
    };

    /// Writes checkpoint `id` with parts `a` and `b` (their bytes derived from `id`) and, if
    /// `complete`, its manifest.
    async fn checkpoint(storage: &CheckpointStorage, id: CheckpointId, complete: bool) {
        let mut parts = Vec::new();
        for name in ["a", "b"] {
            let bytes = format!("{name} of {id}").into_bytes();
            parts.push(storage.write_part(id, name, bytes).await.unwrap());
        }
        if complete {
            storage
                .complete(&Manifest {
                    format: FORMAT_VERSION,
                    checkpoint: id,
                    fingerprint: format!("{:016x}", EXPECTED.fingerprint),
                    key_shards: EXPECTED.key_shards,
                    completed_ms: 0,
                    parts,
                })
                .await
                .unwrap();
        }
    }

    #[test]
    fn the_newest_complete_checkpoint_is_restored_and_incomplete_ones_ignored() {
        let dir = temp_dir("latest");
        let storage = CheckpointStorage::open(dir.to_str().unwrap()).unwrap();
        block_on(async {
            assert!(storage.latest(EXPECTED).await.unwrap().is_none());
            checkpoint(&storage, 1, true).await;
            checkpoint(&storage, 2, true).await;
            // A crash while checkpoint 3 was written: parts, no manifest.
            checkpoint(&storage, 3, false).await;
            let restored = storage.latest(EXPECTED).await.unwrap().unwrap();
            assert_eq!(restored.manifest.checkpoint, 2);
            assert_eq!(restored.parts["a"], b"a of 2");
            assert_eq!(restored.parts["b"], b"b of 2");
            assert!(restored.passed_over.is_empty());
            assert_eq!(storage.complete_checkpoints().await.unwrap(), vec![1, 2]);
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_checkpoint_is_passed_over_for_the_one_before_it_and_said() {
        let dir = temp_dir("damaged");
        let storage = CheckpointStorage::open(dir.to_str().unwrap()).unwrap();
        block_on(async {
            for id in 1..=4 {
                checkpoint(&storage, id, true).await;
            }
        });
        let part = |id: u64, name: &str| dir.join(format!("chk-{id:020}")).join(name);
        // 4: a part cut short; 3: a part changed (same length); 2: a part missing.
        std::fs::write(part(4, "a"), b"a of").unwrap();
        std::fs::write(part(3, "b"), b"B of 3").unwrap();
        std::fs::remove_file(part(2, "a")).unwrap();
        let restored = block_on(storage.latest(EXPECTED)).unwrap().unwrap();
        assert_eq!(restored.manifest.checkpoint, 1);
        let why: Vec<(u64, &str)> = restored
            .passed_over
            .iter()
            .map(|(id, why)| (*id, why.as_str()))
            .collect();
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(
            why[0].0 == 4 && why[0].1.contains("part a is not what its manifest says"),
            "{why:?}"
        );
        assert!(
            why[1].0 == 3 && why[1].1.contains("part b is not what its manifest says"),
            "{why:?}"
        );
        assert!(
            why[2].0 == 2 && why[2].1.contains("part a cannot be read"),
            "{why:?}"
        );
        // A manifest that does not parse is passed over too.
        std::fs::write(dir.join(format!("chk-{:020}.manifest", 1)), b"{ not json").unwrap();
        let none = block_on(storage.latest(EXPECTED)).unwrap();
        assert!(none.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_pipeline_sharding_or_format_is_an_error_naming_the_directory() {
        let dir = temp_dir("other");
        let name = dir.to_str().unwrap().to_string();
        let storage = CheckpointStorage::open(&name).unwrap();
        block_on(checkpoint(&storage, 5, true));
        let other = Expected {
            fingerprint: 0xbeef,
            ..EXPECTED
        };
        let e = block_on(storage.latest(other)).unwrap_err().to_string();
        assert!(
            e.contains(&name) && e.contains("checkpoint 5 is of another pipeline"),
            "{e}"
        );
        let shards = Expected {
            key_shards: 3,
            ..EXPECTED
        };
        let e = block_on(storage.latest(shards)).unwrap_err().to_string();
        assert!(e.contains(&name) && e.contains("in 2 shards"), "{e}");
        let manifest = dir.join(format!("chk-{:020}.manifest", 5));
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(
            &manifest,
            text.replace(&format!("\"format\": {FORMAT_VERSION}"), "\"format\": 99"),
        )
        .unwrap();
        let e = block_on(storage.latest(EXPECTED)).unwrap_err().to_string();
        assert!(e.contains(&name) && e.contains("has format 99"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pruning_keeps_the_newest_complete_checkpoints_and_drops_leftovers() {
        let dir = temp_dir("prune");
        let storage = CheckpointStorage::open(dir.to_str().unwrap()).unwrap();
        block_on(async {
            checkpoint(&storage, 1, true).await;
            checkpoint(&storage, 2, false).await; // never completed
            checkpoint(&storage, 3, true).await;
            checkpoint(&storage, 4, true).await;
            checkpoint(&storage, 5, false).await; // being written now
            assert_eq!(storage.prune(2).await.unwrap(), vec![1, 2]);
            assert_eq!(storage.complete_checkpoints().await.unwrap(), vec![3, 4]);
            let restored = storage.latest(EXPECTED).await.unwrap().unwrap();
            assert_eq!(restored.manifest.checkpoint, 4);
        });
        // Checkpoint 5, still being written, keeps its parts.
        assert!(dir.join(format!("chk-{:020}", 5)).join("a").exists());
        assert!(!dir.join(format!("chk-{:020}", 1)).join("a").exists());
        // Pruned checkpoints leave no empty directory behind, listed forever after.
        assert!(!dir.join(format!("chk-{:020}", 1)).exists());
        assert!(!dir.join(format!("chk-{:020}", 2)).exists());
        block_on(async {
            assert_eq!(storage.incomplete_checkpoints().await.unwrap(), vec![5]);
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unusable_location_is_an_error_naming_it() {
        let dir = temp_dir("unusable");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a-file");
        std::fs::write(&file, b"").unwrap();
        let under_a_file = file.join("checkpoints");
        let name = under_a_file.to_str().unwrap();
        let e = CheckpointStorage::open(name).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("checkpoint directory {name}: cannot make it")),
            "{e}"
        );
        let e = CheckpointStorage::open("gs://bucket/jobs")
            .unwrap_err()
            .to_string();
        assert!(e.contains("gs:// is not a kind of storage"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

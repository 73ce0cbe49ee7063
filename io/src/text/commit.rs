//! Committing a sharded file output: a run's result becomes visible complete, or not at all
//! as far as the file system allows.
//!
//! Shards are written under temporary names in a hidden directory beside the output
//! (`.BASE-sluice-temp-PID-MICROS/`). Once every shard is written, the commit:
//!
//! 1. removes temporary directories that interrupted runs to the same prefix left behind (their
//!    process is gone);
//! 2. removes the previous result's manifest (`PREFIX.manifest`): from here on, until step 5,
//!    the prefix holds no complete result;
//! 3. removes the previous result's shards — every `PREFIX-SSSSS-of-NNNNN[SUFFIX]`, whatever its
//!    shard count, so that a result written with 8 shards never survives beside one written
//!    with 2;
//! 4. renames the new shards into place, one after the other;
//! 5. writes the manifest — written to a temporary name and renamed, so it appears whole —
//!    listing every shard with its size;
//! 6. removes its temporary directory.
//!
//! Renaming many files cannot be atomic, so a run killed between steps 2 and 5 leaves shards
//! without a manifest: the manifest, written last, is what tells a complete result from an
//! interrupted one (as Hadoop's `_SUCCESS` marker does). Readers in Sluice check it
//! ([`complete_shards`], and `text::read` on a prefix); the next run to the prefix removes the
//! leftovers. A new run to an existing prefix **replaces** the previous result (Beam's and
//! Hadoop's writers overwrite too; Spark's default is to refuse — Sluice replaces, as re-running
//! a job is the common case). The manifest's name matches no shard pattern (`PREFIX-*`).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a complete output holds: written last by the commit, as `PREFIX.manifest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The format's name and version.
    pub format: String,
    /// Every shard, in order.
    pub shards: Vec<ShardEntry>,
}

/// One shard of a committed output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// The shard's file name (in the prefix's directory).
    pub file: String,
    /// Its size in bytes when it was committed.
    pub bytes: u64,
}

/// The manifest format this version writes.
const FORMAT: &str = "sluice-sharded-output/1";

/// The manifest's path for an output `prefix`.
pub fn manifest_path(prefix: &str) -> PathBuf {
    PathBuf::from(format!("{prefix}.manifest"))
}

/// The directory an output prefix writes into, and the file names' common start.
pub(crate) fn split_prefix(prefix: &str) -> (PathBuf, String) {
    let path = Path::new(prefix);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, base)
}

/// Why an output prefix cannot be written: it must name a file name in a directory (the
/// shards are `PREFIX-SSSSS-of-NNNNN`), not a directory.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let (_, base) = split_prefix(prefix);
    if prefix.is_empty() {
        return Err(
            "the output prefix is empty: it must name a file name, such as out/counts".into(),
        );
    }
    if prefix.ends_with('/') || prefix.ends_with(std::path::MAIN_SEPARATOR) || base.is_empty() {
        return Err(format!(
            "the output prefix '{prefix}' names a directory: it must end in a file name, such as {}counts",
            if prefix.ends_with('/') {
                prefix.to_string()
            } else {
                format!("{prefix}/")
            }
        ));
    }
    if base == "." || base == ".." || Path::new(prefix).is_dir() {
        return Err(format!(
            "the output prefix '{prefix}' is a directory: it must end in a file name, such as {prefix}/counts"
        ));
    }
    Ok(())
}

/// The hidden directory a run writes its shards into before the commit: unique to the process
/// and the moment the pipeline was built.
pub(crate) fn temp_dir_for(prefix: &str) -> PathBuf {
    let (dir, base) = split_prefix(prefix);
    let token = format!(
        "{}-{}",
        std::process::id(),
        sluice_sdk::time::Timestamp::now().as_micros()
    );
    dir.join(format!(".{base}-sluice-temp-{token}"))
}

/// Whether `name` is a shard of `base` (`BASE-SSSSS-of-NNNNN` followed by `suffix`).
fn is_shard_name(name: &str, base: &str, suffix: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(suffix))
    else {
        return false;
    };
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    matches!(rest.split_once("-of-"), Some((shard, of)) if digits(shard) && digits(of))
}

/// The process id in a temporary directory's name, if it is one of `base`'s.
fn temp_dir_owner(name: &str, base: &str) -> Option<u32> {
    let token = name.strip_prefix(&format!(".{base}-sluice-temp-"))?;
    token.split('-').next()?.parse().ok()
}

/// Whether process `pid` still runs (a temporary directory it owns may be in use). Where the
/// system cannot tell, only this process counts as running.
pub(crate) fn process_runs(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    proc.is_dir() && proc.join(pid.to_string()).exists()
}

/// The commit of one output: where the shards are and where they go.
pub(crate) struct Commit<'a> {
    /// The output prefix.
    pub prefix: &'a str,
    /// The file names' suffix.
    pub suffix: &'a str,
    /// The run's temporary directory.
    pub temp_dir: &'a Path,
}

impl Commit<'_> {
    /// Commits `shards` (the temporary file of each shard, in order; `None` for a shard that
    /// got no line, which becomes an empty file); returns the final names. `after_rename` runs
    /// after each rename (tests make it fail, as a crash would).
    pub(crate) fn run(
        &self,
        shards: Vec<Option<PathBuf>>,
        after_rename: &mut dyn FnMut(usize) -> std::io::Result<()>,
    ) -> Result<Vec<String>, String> {
        let (dir, base) = split_prefix(self.prefix);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the directory {}: {e}", dir.display()))?;
        std::fs::create_dir_all(self.temp_dir).map_err(|e| {
            format!(
                "cannot create the directory {}: {e}",
                self.temp_dir.display()
            )
        })?;
        let count = shards.len() as u32;
        // The directories the shards were written into: on a cluster, every process writes
        // into a directory of its own, possibly on another machine (whose processes this one
        // cannot see), so they are never taken for an interrupted run's leftovers.
        let mut written_in: Vec<PathBuf> = shards
            .iter()
            .flatten()
            .filter_map(|t| t.parent().map(Path::to_path_buf))
            .filter(|d| d != self.temp_dir)
            .collect();
        written_in.sort();
        written_in.dedup();
        // Every shard is a file in the temporary directory before anything is renamed.
        let mut staged = Vec::with_capacity(shards.len());
        for (shard, temp) in shards.into_iter().enumerate() {
            let temp = match temp {
                Some(t) => t,
                None => {
                    let t = self.temp_dir.join(format!("shard-{shard:05}"));
                    std::fs::File::create(&t)
                        .map_err(|e| format!("cannot create {}: {e}", t.display()))?;
                    t
                }
            };
            let bytes = std::fs::metadata(&temp)
                .map_err(|e| format!("cannot read {}: {e}", temp.display()))?
                .len();
            let file = super::sink::shard_name(&base, shard as u32, count, self.suffix);
            staged.push((temp, file, bytes));
        }
        self.remove_leftovers(&dir, &base, &written_in)?;
        let manifest = manifest_path(self.prefix);
        remove_if_present(&manifest)?;
        self.remove_old_shards(&dir, &base)?;
        let mut names = Vec::with_capacity(staged.len());
        let mut entries = Vec::with_capacity(staged.len());
        for (i, (temp, file, bytes)) in staged.into_iter().enumerate() {
            let to = dir.join(&file);
            std::fs::rename(&temp, &to).map_err(|e| {
                format!("cannot rename {} to {}: {e}", temp.display(), to.display())
            })?;
            after_rename(i).map_err(|e| format!("the commit stopped after a rename: {e}"))?;
            names.push(to.display().to_string());
            entries.push(ShardEntry { file, bytes });
        }
        let text = serde_json::to_string_pretty(&Manifest {
            format: FORMAT.into(),
            shards: entries,
        })
        .map_err(|e| format!("cannot encode the manifest: {e}"))?;
        let staged_manifest = self.temp_dir.join("manifest");
        std::fs::write(&staged_manifest, text + "\n")
            .and_then(|()| std::fs::File::open(&staged_manifest)?.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", staged_manifest.display()))?;
        std::fs::rename(&staged_manifest, &manifest)
            .map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
        std::fs::remove_dir_all(self.temp_dir)
            .map_err(|e| format!("cannot remove {}: {e}", self.temp_dir.display()))?;
        // Other processes' directories are empty now; one still in use keeps its files.
        for d in written_in {
            let _ = std::fs::remove_dir(d);
        }
        Ok(names)
    }

    /// Removes the temporary directories of this prefix's interrupted runs.
    fn remove_leftovers(&self, dir: &Path, base: &str, in_use: &[PathBuf]) -> Result<(), String> {
        for entry in read_dir(dir)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            match temp_dir_owner(&name, base) {
                Some(pid)
                    if path != self.temp_dir && !in_use.contains(&path) && !process_runs(pid) =>
                {
                    tracing::info!(path = %path.display(), "removing an interrupted run's temporary files");
                    std::fs::remove_dir_all(&path)
                        .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Removes every shard of an earlier result under this prefix, whatever its count.
    fn remove_old_shards(&self, dir: &Path, base: &str) -> Result<(), String> {
        for entry in read_dir(dir)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_shard_name(&name, base, self.suffix) {
                remove_if_present(&entry.path())?;
            }
        }
        Ok(())
    }
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, String> {
    std::fs::read_dir(dir)
        .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))
}

fn remove_if_present(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

/// The shards of the complete output at `prefix`, from its manifest: an error if there is no
/// manifest (nothing was committed there, or the run that wrote the shards did not finish) or
/// if a shard it lists is missing or changed size.
pub fn complete_shards(prefix: &str) -> Result<Vec<PathBuf>, String> {
    let path = manifest_path(prefix);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (dir, base) = split_prefix(prefix);
            let stray = read_dir(&dir)
                .map(|entries| {
                    entries.iter().any(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.starts_with(&format!("{base}-")) && name.contains("-of-")
                    })
                })
                .unwrap_or(false);
            return Err(if stray {
                format!(
                    "'{prefix}' holds no complete output: its shards have no {} (the run that wrote them did not finish)",
                    path.display()
                )
            } else {
                format!(
                    "no output was committed at '{prefix}' ({} is missing)",
                    path.display()
                )
            });
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a Sluice manifest: {e}", path.display()))?;
    if manifest.format != FORMAT {
        return Err(format!(
            "{}: unknown format '{}' (this version reads {FORMAT})",
            path.display(),
            manifest.format
        ));
    }
    let (dir, _) = split_prefix(prefix);
    manifest
        .shards
        .iter()
        .map(|s| {
            let file = dir.join(&s.file);
            match std::fs::metadata(&file) {
                Ok(m) if m.len() == s.bytes => Ok(file),
                Ok(m) => Err(format!(
                    "'{prefix}' is not the output its manifest describes: {} has {} bytes, not {}",
                    file.display(),
                    m.len(),
                    s.bytes
                )),
                Err(e) => Err(format!(
                    "'{prefix}' is not the output its manifest describes: {}: {e}",
                    file.display()
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "sluice-commit-{name}-{}-{}",
            std::process::id(),
            sluice_sdk::time::Timestamp::now().as_micros()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Stages `contents` as one run's shards and commits them to `prefix`.
    fn commit(
        prefix: &str,
        contents: &[&str],
        hook: &mut dyn FnMut(usize) -> std::io::Result<()>,
    ) -> Result<Vec<String>, String> {
        let temp = temp_dir_for(prefix);
        std::fs::create_dir_all(&temp).unwrap();
        let shards = contents
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (!c.is_empty()).then(|| {
                    let t = temp.join(format!("shard-{i:05}"));
                    std::fs::write(&t, c).unwrap();
                    t
                })
            })
            .collect();
        Commit {
            prefix,
            suffix: "",
            temp_dir: &temp,
        }
        .run(shards, hook)
    }

    fn read_all(prefix: &str) -> Result<String, String> {
        Ok(complete_shards(prefix)?
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect())
    }

    fn files(d: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_new_result_replaces_every_shard_of_the_old_one() {
        let d = dir("replace");
        let prefix = d.join("out").display().to_string();
        let ok = &mut |_| Ok(());
        commit(
            &prefix,
            &["a\n", "b\n", "c\n", "", "e\n", "f\n", "g\n", "h\n"],
            ok,
        )
        .unwrap();
        assert_eq!(read_all(&prefix).unwrap(), "a\nb\nc\ne\nf\ng\nh\n");
        std::fs::write(d.join("out-errors-00000-of-00001"), "kept").unwrap();
        commit(&prefix, &["x\n", "y\n"], ok).unwrap();
        assert_eq!(read_all(&prefix).unwrap(), "x\ny\n");
        assert_eq!(
            files(&d),
            [
                "out-00000-of-00002",
                "out-00001-of-00002",
                "out-errors-00000-of-00001",
                "out.manifest"
            ]
        );
    }

    #[test]
    fn an_interrupted_commit_is_no_result_and_the_next_run_cleans_up() {
        let d = dir("interrupted");
        let prefix = d.join("out").display().to_string();
        commit(&prefix, &["old1\n", "old2\n"], &mut |_| Ok(())).unwrap();
        // The new run fails between its second and third rename.
        let err = commit(&prefix, &["n1\n", "n2\n", "n3\n", "n4\n"], &mut |i| {
            if i == 1 {
                Err(std::io::Error::other("killed"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert!(err.contains("killed"), "{err}");
        let left = files(&d);
        assert!(!left.contains(&"out.manifest".to_string()), "{left:?}");
        assert!(
            left.iter().any(|f| f.starts_with(".out-sluice-temp-")),
            "{left:?}"
        );
        let incomplete = read_all(&prefix).unwrap_err();
        assert!(
            incomplete.contains("holds no complete output"),
            "{incomplete}"
        );
        // A run whose process is gone left its temporary directory: the next commit removes it
        // (the one above belongs to this process, which still runs).
        let dead = d.join(".out-sluice-temp-4194999-1");
        std::fs::create_dir_all(&dead).unwrap();
        commit(&prefix, &["z\n"], &mut |_| Ok(())).unwrap();
        assert_eq!(read_all(&prefix).unwrap(), "z\n");
        assert!(!dead.exists());
        assert!(
            files(&d)
                .iter()
                .all(|f| !f.starts_with("out-") || f == "out-00000-of-00001")
        );
    }

    #[test]
    fn a_changed_shard_is_not_read_as_complete() {
        let d = dir("changed");
        let prefix = d.join("out").display().to_string();
        commit(&prefix, &["a\n", "b\n"], &mut |_| Ok(())).unwrap();
        std::fs::write(d.join("out-00001-of-00002"), "bb\n").unwrap();
        let err = read_all(&prefix).unwrap_err();
        assert!(err.contains("has 3 bytes, not 2"), "{err}");
        assert!(
            complete_shards(&d.join("none").display().to_string())
                .unwrap_err()
                .contains("no output was committed")
        );
    }

    #[test]
    fn prefixes_must_name_a_file() {
        assert!(check_prefix("").unwrap_err().contains("empty"));
        assert!(
            check_prefix("out/")
                .unwrap_err()
                .contains("names a directory")
        );
        let d = dir("prefix");
        assert!(
            check_prefix(&d.display().to_string())
                .unwrap_err()
                .contains("is a directory")
        );
        assert!(check_prefix(&d.join("counts").display().to_string()).is_ok());
        assert!(check_prefix("counts").is_ok());
    }

    #[test]
    fn shard_names_are_recognized_exactly() {
        assert!(is_shard_name("out-00003-of-00008", "out", ""));
        assert!(is_shard_name("out-00003-of-00008.txt", "out", ".txt"));
        assert!(!is_shard_name("out-errors-00000-of-00001", "out", ""));
        assert!(!is_shard_name("out-3-of-8", "out", ""));
        assert!(!is_shard_name("output-00003-of-00008", "out", ""));
    }
}

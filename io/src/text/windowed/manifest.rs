//! The manifest of a windowed output: the record of every committed file, appended to under
//! the output's lock (see the [parent module](super) for the format).

use super::super::commit::{Manifest, ShardEntry, manifest_path, split_prefix};
use serde::{Deserialize, Serialize};
use sluice_sdk::error::BoxError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The format recorded in a windowed output's manifest.
pub const WINDOWED_FORMAT: &str = "sluice-windowed-output/2";

/// The first version: the manifest one JSON document, rewritten whole at each commit.
const WINDOWED_FORMAT_V1: &str = "sluice-windowed-output/1";

/// The first line of a windowed output's manifest.
#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
}

/// The files a manifest (either version) records, in the order they were committed, each
/// once; `Err` says what the text is not.
fn recorded(text: &str) -> Result<Vec<ShardEntry>, String> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or_default();
    let current =
        serde_json::from_str::<Header>(first.trim_end()).is_ok_and(|h| h.format == WINDOWED_FORMAT);
    if !current {
        // The first version, or another kind of output.
        return match serde_json::from_str::<Manifest>(text) {
            Ok(m) if m.format == WINDOWED_FORMAT_V1 => Ok(m.shards),
            Ok(m) => Err(format!("its format is {}", m.format)),
            Err(e) => Err(e.to_string()),
        };
    }
    let mut seen = std::collections::HashSet::new();
    let mut files = Vec::new();
    for line in lines {
        // A line without its end was torn by a crash: it records nothing.
        let Some(line) = line.strip_suffix('\n') else {
            break;
        };
        let entry: ShardEntry = serde_json::from_str(line).map_err(|e| e.to_string())?;
        if seen.insert(entry.file.clone()) {
            files.push(entry);
        }
    }
    Ok(files)
}

/// A manifest line: `entry` as JSON, and a line end.
fn manifest_line(entry: &impl Serialize) -> Result<Vec<u8>, BoxError> {
    let mut line = serde_json::to_vec(entry)?;
    line.push(b'\n');
    Ok(line)
}

/// Appends `entries` to the manifest of the windowed output at `prefix`, holding the
/// output's manifest lock (the file `lock`: the transform's other writers — other workers,
/// other processes — record theirs too); `temp` is where a manifest written anew goes before
/// it is renamed into place.
pub(super) fn append(
    prefix: &str,
    lock: &Path,
    temp: &Path,
    entries: Vec<ShardEntry>,
) -> Result<(), BoxError> {
    if entries.is_empty() {
        return Ok(());
    }
    let lock = ManifestLock::take(lock)?;
    let recorded = append_locked(prefix, temp, entries);
    lock.release();
    recorded
}

fn append_locked(prefix: &str, temp: &Path, entries: Vec<ShardEntry>) -> Result<(), BoxError> {
    let path = manifest_path(prefix);
    ready_to_append(&path, temp)?;
    let mut lines = Vec::new();
    for entry in &entries {
        lines.extend(manifest_line(entry)?);
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(&lines).map(|()| f))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.flush()?;
    Ok(())
}

/// Makes the manifest at `path` ready for lines to be appended: created with its header
/// if missing; rewritten in this version if of the first; its last line cut off if a crash
/// tore it. Refuses the manifest of another kind of output.
fn ready_to_append(path: &Path, temp: &Path) -> Result<(), BoxError> {
    let not_windowed = |why: String| -> BoxError {
        format!(
            "{} is not the manifest of a windowed output ({why}): use another prefix",
            path.display()
        )
        .into()
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return replace_manifest(path, temp, &[]);
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display()).into()),
    };
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&file), &mut first)?;
    let current =
        serde_json::from_str::<Header>(first.trim_end()).is_ok_and(|h| h.format == WINDOWED_FORMAT);
    if !current {
        let text = std::fs::read_to_string(path)?;
        let files = recorded(&text).map_err(not_windowed)?;
        return replace_manifest(path, temp, &files);
    }
    use std::io::{Read, Seek, SeekFrom};
    let len = file.seek(SeekFrom::End(0))?;
    let mut last = [0u8];
    file.seek(SeekFrom::End(-1))?;
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        // Torn by a crash: keep what ends with a line end.
        let text = std::fs::read(path)?;
        let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(keep as u64)?;
        tracing::warn!(
            manifest = %path.display(),
            cut = len - keep as u64,
            "a torn line of a windowed output's manifest was cut off"
        );
    }
    Ok(())
}

/// Writes the manifest anew (under a temporary name, then renamed): its header and `files`.
fn replace_manifest(path: &Path, temp: &Path, files: &[ShardEntry]) -> Result<(), BoxError> {
    let mut text = manifest_line(&Header {
        format: WINDOWED_FORMAT.into(),
    })?;
    for entry in files {
        text.extend(manifest_line(entry)?);
    }
    std::fs::write(temp, text).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    std::fs::rename(temp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// The lock on a windowed output's manifest: a file made with `create_new` holding the owner's
/// process id. A lock whose process is gone (killed while it held it) is taken over.
struct ManifestLock(PathBuf);

impl ManifestLock {
    /// Waits for the lock at `path` (at most a minute) and takes it.
    fn take(path: &Path) -> Result<Self, BoxError> {
        let started = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut file) => {
                    write!(file, "{}", std::process::id())
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    return Ok(ManifestLock(path.to_path_buf()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    if owner.is_some_and(|pid| !super::super::commit::process_runs(pid)) {
                        // Its process is gone: the lock is stale.
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if started.elapsed() > std::time::Duration::from_secs(60) {
                        return Err(format!(
                            "{} is held by process {owner:?} for over a minute",
                            path.display()
                        )
                        .into());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) => return Err(format!("cannot make {}: {e}", path.display()).into()),
            }
        }
    }

    fn release(self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The committed files of the windowed output at `prefix`, from its manifest, in the order
/// they were committed.
pub fn committed_files(prefix: &str) -> Result<Vec<PathBuf>, String> {
    let path = manifest_path(prefix);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let files = recorded(&text).map_err(|why| {
        format!(
            "{} is not the manifest of a windowed output: {why}",
            path.display()
        )
    })?;
    let (dir, _) = split_prefix(prefix);
    Ok(files
        .into_iter()
        .map(|s| dir.join(Path::new(&s.file)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str) -> ShardEntry {
        ShardEntry {
            file: file.into(),
            bytes: 1,
        }
    }

    #[test]
    fn a_manifest_lists_each_file_once_and_ignores_a_torn_line() {
        let mut text = String::from_utf8(
            manifest_line(&Header {
                format: WINDOWED_FORMAT.into(),
            })
            .unwrap(),
        )
        .unwrap();
        for f in ["a", "b", "a"] {
            text.push_str(std::str::from_utf8(&manifest_line(&entry(f)).unwrap()).unwrap());
        }
        text.push_str("{\"file\":\"c\",\"by");
        assert_eq!(recorded(&text).unwrap(), vec![entry("a"), entry("b")]);
    }

    #[test]
    fn a_first_version_manifest_is_read_and_another_output_refused() {
        let v1 = serde_json::to_string(&Manifest {
            format: WINDOWED_FORMAT_V1.into(),
            shards: vec![entry("x")],
        })
        .unwrap();
        assert_eq!(recorded(&v1).unwrap(), vec![entry("x")]);
        let sharded = serde_json::to_string(&Manifest {
            format: "sluice-sharded-output/1".into(),
            shards: vec![],
        })
        .unwrap();
        assert!(recorded(&sharded).unwrap_err().contains("sharded"));
    }
}

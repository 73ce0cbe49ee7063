//! Finding the files a pattern names.

use std::path::PathBuf;

/// A file to read, as found when the pipeline was built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes (compressed size for gzip files).
    pub size: u64,
    /// Whether it is gzip-compressed (by its `.gz` extension).
    pub gzip: bool,
}

/// A pattern matched nothing or a file could not be examined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The pattern is not a valid glob.
    #[error("invalid file pattern '{pattern}': {reason}")]
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing matched.
    #[error("no file matches the pattern '{0}'")]
    NoMatch(String),
    /// The pattern names an output prefix whose commit did not finish, or whose files no
    /// longer match its manifest.
    #[error("{0}")]
    IncompleteOutput(String),
    /// A matched path could not be examined.
    #[error("cannot read '{path}': {reason}")]
    Unreadable {
        /// The path.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Whether files named like shards of the output prefix `prefix` exist.
fn has_shards(prefix: &str) -> bool {
    glob::glob(&format!(
        "{}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]*",
        glob::Pattern::escape(prefix)
    ))
    .map(|mut paths| paths.next().is_some())
    .unwrap_or(false)
}

/// The files matching `pattern` (a path or a glob such as `logs/*.txt.gz`), sorted by path.
///
/// A path that is not a file but the prefix of an output Sluice wrote (`out/counts` for
/// `out/counts-SSSSS-of-NNNNN`) names that output's shards, as its manifest lists them: an
/// output whose commit did not finish is an error, not a partial read.
pub fn match_files(pattern: &str) -> Result<Vec<FileMeta>, MatchError> {
    let is_output_prefix = !is_glob(pattern)
        && !std::path::Path::new(pattern).exists()
        && (super::commit::manifest_path(pattern).exists() || has_shards(pattern));
    let paths: Vec<PathBuf> = if is_output_prefix {
        super::commit::complete_shards(pattern).map_err(MatchError::IncompleteOutput)?
    } else if is_glob(pattern) {
        let entries = glob::glob(pattern).map_err(|e| MatchError::InvalidPattern {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            match entry {
                Ok(p) => paths.push(p),
                Err(e) => {
                    return Err(MatchError::Unreadable {
                        path: e.path().display().to_string(),
                        reason: e.error().to_string(),
                    });
                }
            }
        }
        paths
    } else {
        vec![PathBuf::from(pattern)]
    };
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !is_glob(pattern) => {
                return Err(MatchError::NoMatch(pattern.to_string()));
            }
            Err(e) => {
                return Err(MatchError::Unreadable {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                });
            }
        };
        let gzip = path.extension().is_some_and(|e| e == "gz");
        files.push(FileMeta {
            path,
            size: meta.len(),
            gzip,
        });
    }
    if files.is_empty() {
        return Err(MatchError::NoMatch(pattern.to_string()));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_literal_paths_and_misses() {
        let dir = std::env::temp_dir().join(format!("sluice-match-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.txt"), "x\n").unwrap();
        std::fs::write(dir.join("a.txt.gz"), "").unwrap();
        let all = match_files(&format!("{}/*", dir.display())).unwrap();
        assert_eq!(
            all.iter().map(|f| f.gzip).collect::<Vec<_>>(),
            vec![true, false]
        );
        assert_eq!(all[1].size, 2);
        let missing = format!("{}/nope.txt", dir.display());
        assert_eq!(
            match_files(&missing),
            Err(MatchError::NoMatch(missing.clone()))
        );
        let none = format!("{}/*.csv", dir.display());
        assert_eq!(
            match_files(&none).unwrap_err().to_string(),
            format!("no file matches the pattern '{none}'")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

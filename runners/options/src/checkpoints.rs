//! [`CheckpointOptions`]: whether and where a streaming run keeps checkpoints, and whether its
//! sinks write each result exactly once.

use clap::Args;
use sluice_sdk::time::Duration;

/// How often a streaming run checkpoints when `--checkpoint-interval` is not given.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);

/// How many complete checkpoints are kept when `--checkpoints-retained` is not given.
pub const DEFAULT_CHECKPOINTS_RETAINED: usize = 3;

/// Checkpoints of a streaming run: a consistent snapshot of the pipeline's state, taken every
/// so often, that a restarted run resumes from.
#[derive(Args, Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckpointOptions {
    /// Streaming runs: keeps checkpoints in DIR (a local directory, `file://…`, or object
    /// storage `s3://BUCKET/PREFIX`), and resumes from the newest complete one found there at
    /// start. The same DIR must not be shared by two jobs.
    #[arg(long = "checkpoint-dir", value_name = "DIR")]
    pub dir: Option<String>,
    /// How often a checkpoint is taken (`10s`, `1m`...; default 10s). Needs --checkpoint-dir.
    #[arg(long = "checkpoint-interval", value_name = "DURATION",
          value_parser = parse_checkpoint_interval, requires = "dir")]
    pub interval: Option<Duration>,
    /// How many complete checkpoints are kept (the older ones are removed; default 3, at
    /// least 1). Needs --checkpoint-dir.
    #[arg(long = "checkpoints-retained", value_name = "N",
          value_parser = parse_retained, requires = "dir")]
    pub retained: Option<usize>,
    /// Sinks write each result exactly once across crashes, in transactions that commit when
    /// the checkpoint covering them completes (results then appear once per checkpoint).
    /// Without it, a restart may write again what was written since the last checkpoint
    /// (at-least-once). Needs --checkpoint-dir.
    #[arg(long = "exactly-once", requires = "dir")]
    pub exactly_once: bool,
}

impl CheckpointOptions {
    /// Whether the run keeps checkpoints.
    pub fn enabled(&self) -> bool {
        self.dir.is_some()
    }

    /// The interval between checkpoints.
    pub fn effective_interval(&self) -> Duration {
        self.interval.unwrap_or(DEFAULT_CHECKPOINT_INTERVAL)
    }

    /// How many complete checkpoints are kept.
    pub fn effective_retained(&self) -> usize {
        self.retained.unwrap_or(DEFAULT_CHECKPOINTS_RETAINED)
    }

    /// Checks options set in code the way the command line does.
    pub fn validate(&self) -> Result<(), String> {
        let needs_dir = self.interval.is_some() || self.retained.is_some() || self.exactly_once;
        if needs_dir && self.dir.is_none() {
            return Err(
                "--checkpoint-interval, --checkpoints-retained and --exactly-once need \
                 --checkpoint-dir"
                    .into(),
            );
        }
        if let Some(d) = self.interval {
            check_interval(d)?;
        }
        if let Some(n) = self.retained {
            parse_retained(&n.to_string())?;
        }
        if self.dir.as_deref().is_some_and(|d| d.trim().is_empty()) {
            return Err("--checkpoint-dir must not be empty".into());
        }
        Ok(())
    }
}

/// Parses `--checkpoint-interval`: at least 10 milliseconds.
pub fn parse_checkpoint_interval(text: &str) -> Result<Duration, String> {
    check_interval(text.trim().parse()?)
}

fn check_interval(d: Duration) -> Result<Duration, String> {
    if d.as_micros() >= 10_000 {
        Ok(d)
    } else {
        Err(format!(
            "--checkpoint-interval must be 10ms or more, not {d}"
        ))
    }
}

/// Parses `--checkpoints-retained`: a whole number from 1.
pub fn parse_retained(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(n) => Err(format!("--checkpoints-retained must be 1 or more, not {n}")),
        Err(_) => Err(format!("'{text}' is not a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use crate::PipelineOptions;
    use crate::tests::parse;

    #[test]
    fn checkpoint_flags_parse_and_need_a_directory() {
        let o = parse(&[
            "--checkpoint-dir",
            "/tmp/c",
            "--checkpoint-interval",
            "2s",
            "--checkpoints-retained",
            "5",
            "--exactly-once",
        ])
        .unwrap();
        assert_eq!(o.checkpoints.dir.as_deref(), Some("/tmp/c"));
        assert_eq!(o.checkpoints.effective_interval().as_millis(), 2000);
        assert_eq!(o.checkpoints.effective_retained(), 5);
        assert!(o.checkpoints.exactly_once);
        let defaults = parse(&["--checkpoint-dir", "s3://b/p"]).unwrap();
        assert_eq!(
            defaults.checkpoints.effective_interval().as_millis(),
            10_000
        );
        assert_eq!(defaults.checkpoints.effective_retained(), 3);
        assert!(!defaults.checkpoints.exactly_once);
        for alone in [
            &["--exactly-once"][..],
            &["--checkpoint-interval", "1s"],
            &["--checkpoints-retained", "2"],
        ] {
            let err = parse(alone).unwrap_err();
            assert!(err.contains("--checkpoint-dir"), "{alone:?}: {err}");
        }
        let err = parse(&["--checkpoint-dir", "d", "--checkpoint-interval", "1ms"]).unwrap_err();
        assert!(err.contains("10ms or more"), "{err}");
        let err = parse(&["--checkpoint-dir", "d", "--checkpoints-retained", "0"]).unwrap_err();
        assert!(err.contains("1 or more, not 0"), "{err}");
        let mut in_code = PipelineOptions::default();
        in_code.checkpoints.exactly_once = true;
        assert!(
            in_code
                .validate()
                .unwrap_err()
                .to_string()
                .contains("--checkpoint-dir")
        );
    }
}

//! The progress bar the rayon runner draws on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress of the source reads: bytes of the estimated total, or records when the size is unknown.
pub(super) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for a read of `total_bytes` (records, if `None`); hidden unless `visible`, and
    /// for reads too small to be worth one.
    pub(super) fn new(visible: bool, name: &str, total_bytes: Option<u64>) -> Self {
        const WORTH_A_BAR: u64 = 8 << 20;
        if !visible || total_bytes.is_some_and(|t| t < WORTH_A_BAR) {
            return Progress { bar: None };
        }
        let bar = match total_bytes {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{msg} {human_pos} records {per_sec}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(name.to_string());
        Progress { bar: Some(bar) }
    }

    /// Advances by `n` bytes (or records).
    pub(super) fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Removes the bar.
    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

//! The readers of a streaming run's unbounded sources: one tokio task per split, sending
//! what it reads — bundles with their checkpoints, watermarks, its end or its failure —
//! through one bounded channel to the executor (a slow pipeline slows the readers down), and
//! the run's input watermark over them (a reader that says it is idle does not count unless
//! all are).

use crate::core::BUNDLE_SIZE;
use crate::core::invoke::error_chain;
use sluice_sdk::graph::Bundle;
use sluice_sdk::time::Timestamp;

/// What a reader task tells the executor.
pub(super) enum ReaderEvent {
    Bundle {
        split: usize,
        stage: usize,
        bundle: Bundle,
        watermark: Timestamp,
        /// What the reader had read once it produced the bundle; finalized once the bundle
        /// went through the pipeline.
        checkpoint: Option<Box<dyn sluice_sdk::source::CheckpointMark>>,
    },
    Watermark {
        split: usize,
        watermark: Timestamp,
        idle: bool,
    },
    Done {
        split: usize,
    },
    Failed {
        transform: String,
        message: String,
    },
}

/// What the executor knows of one reader's progress.
#[derive(Clone, Copy)]
pub(super) struct SplitWatermark {
    watermark: Timestamp,
    idle: bool,
}

impl Default for SplitWatermark {
    fn default() -> Self {
        SplitWatermark {
            watermark: Timestamp::MIN,
            idle: false,
        }
    }
}

impl SplitWatermark {
    pub(super) fn advance(&mut self, watermark: Timestamp, idle: bool) {
        self.watermark = self.watermark.max(watermark);
        self.idle = idle;
    }

    /// The pipeline's input watermark: the minimum over the busy readers; when every reader
    /// is idle, the largest of their watermarks.
    pub(super) fn combine(splits: &[SplitWatermark]) -> Timestamp {
        let busy = splits.iter().filter(|s| !s.idle).map(|s| s.watermark).min();
        busy.or_else(|| splits.iter().map(|s| s.watermark).max())
            .unwrap_or(Timestamp::MAX)
    }
}

/// Bundles in flight between the readers and the executor: the backpressure bound.
const CHANNEL_BUNDLES: usize = 64;

/// One split of an unbounded source, ready to read.
pub(super) struct Reader {
    /// The stage its bundles enter.
    pub(super) stage: usize,
    /// The source transform, for errors.
    pub(super) transform: String,
    pub(super) reader: Box<dyn sluice_sdk::graph::kernel::UnboundedBundleReader>,
}

/// Starts one tokio task per reader; they send what they read through one bounded channel
/// until they end, fail, or the run is cancelled.
pub(super) fn spawn_readers(
    readers: Vec<Reader>,
    cancel: &crate::options::CancelToken,
) -> tokio::sync::mpsc::Receiver<ReaderEvent> {
    let (tx, rx) = tokio::sync::mpsc::channel::<ReaderEvent>(CHANNEL_BUNDLES);
    for (split, mut r) in readers.into_iter().enumerate() {
        let (tx, cancel) = (tx.clone(), cancel.clone());
        tokio::spawn(async move {
            while !cancel.is_cancelled() {
                let event = match r.reader.next_bundle(BUNDLE_SIZE).await {
                    Ok(Some(bundle)) if bundle.is_empty() => ReaderEvent::Watermark {
                        split,
                        watermark: r.reader.watermark(),
                        idle: r.reader.is_idle(),
                    },
                    Ok(Some(bundle)) => ReaderEvent::Bundle {
                        split,
                        stage: r.stage,
                        bundle,
                        watermark: r.reader.watermark(),
                        checkpoint: r.reader.checkpoint(),
                    },
                    Ok(None) => ReaderEvent::Done { split },
                    Err(e) => ReaderEvent::Failed {
                        transform: r.transform.clone(),
                        message: error_chain(e.as_ref()),
                    },
                };
                let last = matches!(event, ReaderEvent::Done { .. } | ReaderEvent::Failed { .. });
                if tx.send(event).await.is_err() || last {
                    break;
                }
            }
        });
    }
    rx
}

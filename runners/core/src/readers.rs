//! The readers of a streaming run's unbounded sources: one tokio task per split, sending
//! what it reads — bundles with their checkpoints, watermarks, its end or its failure —
//! through one bounded channel to whoever executes the stages (a slow pipeline slows the
//! readers down), and the input watermark over them (a reader that says it is idle does not
//! count unless all are).

use crate::invoke::error_chain;
use sluice_sdk::graph::Bundle;
use sluice_sdk::time::Timestamp;

/// What a reader task tells the executor.
pub enum ReaderEvent {
    /// A bundle of records.
    Bundle {
        /// The reader's position among the readers.
        split: usize,
        /// The stage the bundle enters.
        stage: usize,
        /// The records.
        bundle: Bundle,
        /// The reader's watermark once it read them.
        watermark: Timestamp,
        /// What the reader had read once it produced the bundle; finalized once the bundle
        /// went through the pipeline.
        checkpoint: Option<Box<dyn sluice_sdk::source::CheckpointMark>>,
    },
    /// The reader's watermark moved (no records).
    Watermark {
        /// The reader's position among the readers.
        split: usize,
        /// Its watermark.
        watermark: Timestamp,
        /// Whether it is idle (caught up and quiet).
        idle: bool,
    },
    /// The reader has ended.
    Done {
        /// The reader's position among the readers.
        split: usize,
    },
    /// The reader failed.
    Failed {
        /// The source transform.
        transform: String,
        /// What went wrong.
        message: String,
    },
}

/// What the executor knows of one reader's progress.
#[derive(Clone, Copy)]
pub struct SplitWatermark {
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
    /// Takes in a reader's watermark (it never goes back) and whether it is idle.
    pub fn advance(&mut self, watermark: Timestamp, idle: bool) {
        self.watermark = self.watermark.max(watermark);
        self.idle = idle;
    }

    /// The pipeline's input watermark: the minimum over the busy readers; when every reader
    /// is idle, the largest of their watermarks.
    pub fn combine(splits: &[SplitWatermark]) -> Timestamp {
        let busy = splits.iter().filter(|s| !s.idle).map(|s| s.watermark).min();
        busy.or_else(|| splits.iter().map(|s| s.watermark).max())
            .unwrap_or(Timestamp::MAX)
    }
}

/// Elements a reader of an unbounded source hands over at most at once: what it has, up to
/// this many. A bundle costs a channel send, a wake-up and a pass of the stages (watermark
/// included) whatever its size, so a larger one spreads that over more elements; it only
/// fills when the source has that many ready, so a slow source still goes element by
/// element. (At 1 024 the windowed count of `streaming_bench` runs about 1.5× as fast as
/// at 64; see BENCHMARKS.md, issue 24.)
const READ_BUNDLE_SIZE: usize = 1024;

/// Bundles in flight between the readers and the executor: the backpressure bound, and (with
/// [`READ_BUNDLE_SIZE`]) how many elements may wait between a source and the first stage.
const CHANNEL_BUNDLES: usize = 8;

/// One split of an unbounded source, ready to read.
pub struct Reader {
    /// The stage its bundles enter.
    pub stage: usize,
    /// The source transform, for errors.
    pub transform: String,
    /// The split's reader.
    pub reader: Box<dyn sluice_sdk::graph::kernel::UnboundedBundleReader>,
}

/// Called after a reader task sent something (a runner whose executor is not a tokio task
/// wakes it up).
pub type Notify = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Starts one tokio task per reader (on the runtime of the caller); they send what they read
/// through one bounded channel until they end, fail, or the run is cancelled, calling
/// `notify` after each send.
pub fn spawn_readers(
    readers: Vec<Reader>,
    cancel: &crate::run::CancelToken,
    notify: Option<Notify>,
) -> tokio::sync::mpsc::Receiver<ReaderEvent> {
    let (tx, rx) = tokio::sync::mpsc::channel::<ReaderEvent>(CHANNEL_BUNDLES);
    for (split, mut r) in readers.into_iter().enumerate() {
        let (tx, cancel, notify) = (tx.clone(), cancel.clone(), notify.clone());
        tokio::spawn(async move {
            while !cancel.is_cancelled() {
                let event = match r.reader.next_bundle(READ_BUNDLE_SIZE).await {
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
                let sent = tx.send(event).await.is_ok();
                if let Some(notify) = &notify {
                    notify();
                }
                if !sent || last {
                    break;
                }
            }
        });
    }
    rx
}

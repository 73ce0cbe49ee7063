//! Sources: how data enters a pipeline.
//!
//! A [`BoundedSource`] estimates its size, splits into independently readable parts, and reads
//! a part through a [`SourceReader`] a batch at a time. Apply it with [`Read::from`]. An
//! [`UnboundedSource`] never ends by itself: its readers yield batches as data arrives and
//! report a watermark; apply it with [`ReadUnbounded::from`].

use crate::element::Element;
use crate::error::BoxError;
use crate::graph::kernel::{BundleReader, SourceKernel};
use crate::graph::{Boundedness, Bundle, NodeKind};
use crate::pcollection::PCollection;
use crate::pipeline::{OutputSpec, PBegin, PTransform};
use crate::windowed_value::{TimestampedValue, WindowedValue};
use crate::windowing::WindowingStrategy;
use std::sync::Arc;

/// A finite source of timestamped values.
pub trait BoundedSource: Send + Sync + Sized + 'static {
    /// The element type.
    type Output: Element;
    /// Splits into about `desired` parts that together read exactly what this source reads.
    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError>;
    /// Splits for a runner that asks for `desired` parts (several per worker, to balance
    /// uneven work) but reads at most `readers` of them at once. A source whose every split
    /// costs a connection of its own (a Kafka consumer) makes no more splits than `readers`;
    /// the default is [`split`](Self::split)`(desired)`.
    fn split_for_readers(&self, desired: usize, readers: usize) -> Result<Vec<Self>, BoxError> {
        let _ = readers;
        self.split(desired)
    }
    /// Estimated size in bytes, if known (for progress and splitting).
    fn estimated_size_bytes(&self) -> Option<u64> {
        None
    }
    /// Starts reading this source (or split).
    fn reader(&self) -> Result<Box<dyn SourceReader<Self::Output>>, BoxError>;
}

/// Reads a source a batch at a time.
pub trait SourceReader<T>: Send {
    /// Appends at most `max` values to `out`; returns `false` once the source is exhausted.
    fn read_batch(
        &mut self,
        max: usize,
        out: &mut Vec<TimestampedValue<T>>,
    ) -> Result<bool, BoxError>;
    /// How many bytes of the source have been consumed so far, if known (for progress).
    fn consumed_bytes(&self) -> Option<u64> {
        None
    }
}

struct SourceKernelImpl<S>(Arc<S>);

impl<S: BoundedSource> SourceKernel for SourceKernelImpl<S> {
    fn split(
        &self,
        desired: usize,
        readers: usize,
    ) -> Result<Vec<Arc<dyn SourceKernel>>, BoxError> {
        Ok(self
            .0
            .split_for_readers(desired, readers)?
            .into_iter()
            .map(|s| Arc::new(SourceKernelImpl(Arc::new(s))) as Arc<dyn SourceKernel>)
            .collect())
    }
    fn estimated_size_bytes(&self) -> Option<u64> {
        self.0.estimated_size_bytes()
    }
    fn reader(&self) -> Result<Box<dyn BundleReader>, BoxError> {
        Ok(Box::new(ReaderImpl {
            reader: self.0.reader()?,
            batch: Vec::new(),
            done: false,
        }))
    }
}

struct ReaderImpl<T> {
    reader: Box<dyn SourceReader<T>>,
    batch: Vec<TimestampedValue<T>>,
    done: bool,
}

impl<T: Element> BundleReader for ReaderImpl<T> {
    fn next_bundle(&mut self, max: usize) -> Result<Option<Bundle>, BoxError> {
        while !self.done {
            self.batch.clear();
            self.done = !self.reader.read_batch(max, &mut self.batch)?;
            if !self.batch.is_empty() {
                let values = self
                    .batch
                    .drain(..)
                    .map(|tv| WindowedValue::in_global_window(tv.value, tv.timestamp))
                    .collect();
                return Ok(Some(Bundle::new::<T>(values)));
            }
        }
        Ok(None)
    }
    fn consumed_bytes(&self) -> Option<u64> {
        self.reader.consumed_bytes()
    }
}

/// Reads a [`BoundedSource`] into a PCollection in the global window.
pub struct Read<S>(S);

impl<S: BoundedSource> Read<S> {
    /// Reads `source`.
    pub fn from(source: S) -> Self {
        Read(source)
    }
}

impl<S: BoundedSource> PTransform<PBegin> for Read<S> {
    type Output = PCollection<S::Output>;
    fn expand(self, input: &PBegin) -> Self::Output {
        let p = input.pipeline();
        let kernel = Arc::new(SourceKernelImpl(Arc::new(self.0)));
        let spec = OutputSpec::of::<S::Output>(Boundedness::Bounded, WindowingStrategy::global());
        let (_, outs) = p.add_primitive(NodeKind::Read(kernel), vec![], vec![], vec![spec]);
        p.handle(outs[0])
    }
}

/// What an unbounded reader has read up to. Once the runner has durably processed every
/// element read before it (its outputs written, or its effects kept in a complete checkpoint
/// of the pipeline), it finalizes the mark — for Kafka, by committing the offsets. A runner
/// may drop a mark without finalizing it (after a failure); the source then re-reads from the
/// previous finalized one: at-least-once.
///
/// A runner that keeps checkpoints stores each split's latest mark, [encoded](Self::encode),
/// and resumes the source from those on restart ([`UnboundedSource::resume`]) — as Beam's
/// `UnboundedSource.createReader(options, checkpointMark)` does.
pub trait CheckpointMark: Send {
    /// Makes the progress durable at the source.
    fn finalize(self: Box<Self>) -> Result<(), BoxError>;
    /// The position, encoded for a checkpoint of the pipeline; `None` if the source cannot
    /// resume from one.
    fn encode(&self) -> Option<Vec<u8>> {
        None
    }
}

/// A possibly infinite source of timestamped values, with a watermark.
pub trait UnboundedSource: Send + Sync + Sized + 'static {
    /// The element type.
    type Output: Element;
    /// Splits into about `desired` parts read independently (for Kafka: partitions).
    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError>;
    /// Starts reading this source (or split).
    fn reader(&self) -> Result<Box<dyn UnboundedReader<Self::Output>>, BoxError>;
    /// Starts reading this split where a checkpoint of the pipeline left off: `positions`
    /// are the [encoded](CheckpointMark::encode) marks the checkpoint kept for *every* split
    /// of the source, oldest first (splits may be cut differently after a restart; each takes
    /// what is its own — a later mark superseding an earlier one for the same part of the
    /// source — and starts what no mark covers as [`reader`](Self::reader) would).
    ///
    /// The default refuses: a source that cannot resume cannot be checkpointed.
    fn resume(
        &self,
        positions: &[Vec<u8>],
    ) -> Result<Box<dyn UnboundedReader<Self::Output>>, BoxError> {
        let _ = positions;
        Err("this source cannot resume from a checkpoint".into())
    }
}

/// Reads an unbounded source a batch at a time.
#[async_trait::async_trait]
pub trait UnboundedReader<T>: Send {
    /// Waits for the next batch of at most `max` values. An empty batch means nothing arrived
    /// for a while (the watermark may still have moved); `None` means the source has ended
    /// (its watermark is then the end of time).
    async fn next_batch(
        &mut self,
        max: usize,
    ) -> Result<Option<Vec<TimestampedValue<T>>>, BoxError>;
    /// The source's estimate of the event time below which no more values will come.
    fn watermark(&self) -> crate::time::Timestamp;
    /// Whether the reader is idle: it has no data now and expects none soon (e.g. every
    /// Kafka partition it reads is caught up and quiet). A runner then leaves its watermark
    /// out of the minimum over readers, as Flink does with idle splits, so that a quiet reader
    /// does not stall the pipeline; when every reader is idle, the largest of their watermarks
    /// counts.
    fn is_idle(&self) -> bool {
        false
    }
    /// A checkpoint of what was read so far, if the source supports finalization.
    fn checkpoint(&mut self) -> Option<Box<dyn CheckpointMark>> {
        None
    }
}

struct UnboundedKernelImpl<S>(Arc<S>);

#[async_trait::async_trait]
impl<S: UnboundedSource> crate::graph::kernel::UnboundedSourceKernel for UnboundedKernelImpl<S> {
    fn split(
        &self,
        desired: usize,
    ) -> Result<Vec<Arc<dyn crate::graph::kernel::UnboundedSourceKernel>>, BoxError> {
        Ok(self
            .0
            .split(desired)?
            .into_iter()
            .map(|s| {
                Arc::new(UnboundedKernelImpl(Arc::new(s)))
                    as Arc<dyn crate::graph::kernel::UnboundedSourceKernel>
            })
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn crate::graph::kernel::UnboundedBundleReader>, BoxError> {
        Ok(Box::new(UnboundedReaderImpl {
            reader: self.0.reader()?,
        }))
    }
    fn resume(
        &self,
        positions: &[Vec<u8>],
    ) -> Result<Box<dyn crate::graph::kernel::UnboundedBundleReader>, BoxError> {
        Ok(Box::new(UnboundedReaderImpl {
            reader: self.0.resume(positions)?,
        }))
    }
}

struct UnboundedReaderImpl<T> {
    reader: Box<dyn UnboundedReader<T>>,
}

#[async_trait::async_trait]
impl<T: Element> crate::graph::kernel::UnboundedBundleReader for UnboundedReaderImpl<T> {
    async fn next_bundle(&mut self, max: usize) -> Result<Option<Bundle>, BoxError> {
        Ok(self.reader.next_batch(max).await?.map(|batch| {
            Bundle::new::<T>(
                batch
                    .into_iter()
                    .map(|tv| WindowedValue::in_global_window(tv.value, tv.timestamp))
                    .collect(),
            )
        }))
    }
    fn watermark(&self) -> crate::time::Timestamp {
        self.reader.watermark()
    }
    fn is_idle(&self) -> bool {
        self.reader.is_idle()
    }
    fn checkpoint(&mut self) -> Option<Box<dyn CheckpointMark>> {
        self.reader.checkpoint()
    }
}

/// Reads an [`UnboundedSource`] into an unbounded PCollection in the global window.
pub struct ReadUnbounded<S>(S);

impl<S: UnboundedSource> ReadUnbounded<S> {
    /// Reads `source`.
    pub fn from(source: S) -> Self {
        ReadUnbounded(source)
    }
}

impl<S: UnboundedSource> PTransform<PBegin> for ReadUnbounded<S> {
    type Output = PCollection<S::Output>;
    fn expand(self, input: &PBegin) -> Self::Output {
        let p = input.pipeline();
        let kernel = Arc::new(UnboundedKernelImpl(Arc::new(self.0)));
        let spec = OutputSpec::of::<S::Output>(Boundedness::Unbounded, WindowingStrategy::global());
        let (_, outs) =
            p.add_primitive(NodeKind::ReadUnbounded(kernel), vec![], vec![], vec![spec]);
        p.handle(outs[0])
    }
}

//! What moves along the edges of the timely dataflow.
//!
//! - [`Bundles`]: the typed bundles of a PCollection, from the stage that produces it to the
//!   stages of the same worker that read it (timely's `Pipeline` contract: never serialized).
//! - [`KeyedBatch`]: keyed records on their way to the worker that owns their key. Between
//!   workers of one process they move as they are; to another process they are written in a
//!   compact binary form of our own ([`ContainerBytes`]), and [`ByKey`] sends each record to
//!   the worker its key's stable hash names, so every process agrees on who owns a key.
//! - [`ViewBlob`]: a bundle of a side input's contents, encoded by the view, addressed to one
//!   worker (every worker receives a copy, see the `views` operator).

use sluice_sdk::element::EncodedKey;
use sluice_sdk::graph::Bundle;
use sluice_sdk::graph::kernel::{KeyedRecord, RecordKind};
use sluice_sdk::time::Timestamp;
use sluice_sdk::window::Window;
use timely::Accountable;
use timely::communication::Push;
use timely::dataflow::channels::pushers::exchange::Distributor;
use timely::dataflow::channels::{ContainerBytes, Message};
use timely::progress::Stamp;

/// Typed bundles of one PCollection, moving within a worker.
#[derive(Clone, Default)]
pub struct Bundles(pub Vec<Bundle>);

impl Accountable for Bundles {
    fn record_count(&self) -> i64 {
        self.0.len() as i64
    }
}

/// Keyed records on their way to the worker that owns their keys.
#[derive(Clone, Default)]
pub struct KeyedBatch(pub Vec<KeyedRecord>);

impl Accountable for KeyedBatch {
    fn record_count(&self) -> i64 {
        self.0.len() as i64
    }
}

/// A bundle of a side input's contents, encoded, for worker `target`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ViewBlob {
    /// The worker it is for.
    pub target: u64,
    /// What [`ViewKernel::encode_input`](sluice_sdk::graph::kernel::ViewKernel::encode_input)
    /// wrote.
    pub bytes: Vec<u8>,
}

thread_local! {
    /// Bytes this worker thread has written for other processes (timely serializes a
    /// message on the worker that sends it).
    static BYTES_SENT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many bytes this worker thread has written for other processes since
/// [`reset_sent`].
pub fn bytes_sent() -> u64 {
    BYTES_SENT.with(|b| b.get())
}

/// Starts counting the bytes this worker thread writes for other processes from zero.
pub fn reset_sent() {
    BYTES_SENT.with(|b| b.set(0));
}

/// Counts bytes written for another process.
pub fn count_sent(bytes: usize) {
    BYTES_SENT.with(|b| b.set(b.get() + bytes as u64));
}

/// Rounds up to a multiple of 8, as timely lays out messages.
fn aligned(n: usize) -> usize {
    (n + 7) & !7
}

/// The encoded size of one record.
fn record_len(r: &KeyedRecord) -> usize {
    let window = match r.window {
        Window::Global => 1,
        Window::Interval(_) => 17,
    };
    4 + r.key.bytes().len() + 4 + r.payload.len() + 1 + 8 + window
}

impl ContainerBytes for KeyedBatch {
    fn from_bytes(bytes: timely::bytes::arc::Bytes) -> Self {
        let mut reader = Reader(&bytes[..]);
        let count = reader.u32() as usize;
        let mut records = Vec::with_capacity(count);
        for _ in 0..count {
            let key = EncodedKey::from_slice(reader.bytes());
            let payload = reader.bytes().into();
            let kind = match reader.u8() {
                0 => RecordKind::Value,
                _ => RecordKind::Accumulator,
            };
            let timestamp = Timestamp::from_micros(reader.i64());
            let window = match reader.u8() {
                0 => Window::Global,
                _ => {
                    let start = Timestamp::from_micros(reader.i64());
                    Window::interval(start, Timestamp::from_micros(reader.i64()))
                }
            };
            records.push(KeyedRecord {
                key,
                payload,
                kind,
                timestamp,
                window,
            });
        }
        KeyedBatch(records)
    }

    fn length_in_bytes(&self) -> usize {
        aligned(4 + self.0.iter().map(record_len).sum::<usize>())
    }

    fn into_bytes<W: std::io::Write>(&self, writer: &mut W) {
        let len = self.length_in_bytes();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&(self.0.len() as u32).to_le_bytes());
        for r in &self.0 {
            put_bytes(&mut out, r.key.bytes());
            put_bytes(&mut out, &r.payload);
            out.push(match r.kind {
                RecordKind::Value => 0,
                RecordKind::Accumulator => 1,
            });
            out.extend_from_slice(&r.timestamp.as_micros().to_le_bytes());
            match r.window {
                Window::Global => out.push(0),
                Window::Interval(w) => {
                    out.push(1);
                    out.extend_from_slice(&w.start.as_micros().to_le_bytes());
                    out.extend_from_slice(&w.end.as_micros().to_le_bytes());
                }
            }
        }
        out.resize(len, 0);
        count_sent(len);
        writer
            .write_all(&out)
            .expect("writing keyed records for another process");
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Reads what [`KeyedBatch::into_bytes`] wrote. The peer runs the same binary, so a short
/// read is a bug, not bad input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().expect("four bytes"))
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take(8).try_into().expect("eight bytes"))
    }
    fn bytes(&mut self) -> &'a [u8] {
        let n = self.u32() as usize;
        self.take(n)
    }
}

/// Sends every keyed record to the worker its key's stable hash names.
pub struct ByKey;

impl Distributor<KeyedBatch> for ByKey {
    fn partition<T: Clone, P: Push<Message<T, KeyedBatch>>>(
        &mut self,
        container: &mut KeyedBatch,
        stamp: &Stamp<T>,
        pushers: &mut [P],
    ) {
        let n = pushers.len();
        if n == 1 {
            Message::push_at(container, stamp.clone(), &mut pushers[0]);
            return;
        }
        let records = std::mem::take(&mut container.0);
        let mut parts: Vec<Vec<KeyedRecord>> = (0..n)
            .map(|_| Vec::with_capacity(records.len() / n + records.len() / 8 + 1))
            .collect();
        for r in records {
            parts[r.key.partition(n)].push(r);
        }
        for (part, pusher) in parts.into_iter().zip(pushers.iter_mut()) {
            if !part.is_empty() {
                Message::push_at(&mut KeyedBatch(part), stamp.clone(), pusher);
            }
        }
    }

    fn flush<T: Clone, P: Push<Message<T, KeyedBatch>>>(&mut self, _: &Stamp<T>, _: &mut [P]) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_records_survive_the_trip_to_another_process() {
        let records = vec![
            KeyedRecord {
                key: EncodedKey::of(&"a key longer than sixteen bytes").unwrap(),
                payload: vec![1, 2, 3].into(),
                kind: RecordKind::Value,
                timestamp: Timestamp::from_secs(3),
                window: Window::interval(Timestamp::from_secs(0), Timestamp::from_secs(10)),
            },
            KeyedRecord {
                key: EncodedKey::of(&7u32).unwrap(),
                payload: Default::default(),
                kind: RecordKind::Accumulator,
                timestamp: Timestamp::MIN,
                window: Window::Global,
            },
        ];
        let batch = KeyedBatch(records.clone());
        let mut bytes = Vec::new();
        batch.into_bytes(&mut bytes);
        assert_eq!(bytes.len(), batch.length_in_bytes());
        assert_eq!(bytes.len() % 8, 0);
        let back = KeyedBatch::from_bytes(timely::bytes::arc::BytesMut::from(bytes).freeze());
        assert_eq!(back.0.len(), 2);
        for (a, b) in records.iter().zip(&back.0) {
            assert_eq!(a.key, b.key);
            assert_eq!(a.key.hash(), b.key.hash());
            assert_eq!(a.payload, b.payload);
            assert_eq!(a.kind, b.kind);
            assert_eq!(a.timestamp, b.timestamp);
            assert_eq!(a.window, b.window);
        }
    }
}

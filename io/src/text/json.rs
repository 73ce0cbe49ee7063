//! JSON lines: one JSON document per line, read and written through serde.

use super::sink::WriteText;
use super::source::{LineDecoder, LineError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_sdk::prelude::*;
use std::marker::PhantomData;

/// Decodes each line as a JSON document of type `T`.
pub struct JsonLines<T>(PhantomData<fn() -> T>);

impl<T> Clone for JsonLines<T> {
    fn clone(&self) -> Self {
        JsonLines(PhantomData)
    }
}

impl<T> JsonLines<T> {
    pub(super) fn new() -> Self {
        JsonLines(PhantomData)
    }
}

impl<T: Element + DeserializeOwned> LineDecoder for JsonLines<T> {
    type Output = T;
    fn decode(&self, line: Vec<u8>) -> Result<T, LineError> {
        serde_json::from_slice(&line).map_err(|e| LineError {
            reason: format!("invalid JSON: {e}"),
            line,
        })
    }
}

/// Writes elements as JSON lines to sharded files; see [`write_json`](super::write_json).
pub struct WriteJson<T> {
    text: WriteText,
    _t: PhantomData<fn(T)>,
}

impl<T> WriteJson<T> {
    pub(super) fn new(text: WriteText) -> Self {
        WriteJson {
            text,
            _t: PhantomData,
        }
    }
    /// Appends `suffix` (such as `.jsonl`) to every file name.
    pub fn with_suffix(self, suffix: &str) -> Self {
        WriteJson {
            text: self.text.with_suffix(suffix),
            _t: PhantomData,
        }
    }
    /// Writes exactly `shards` files.
    pub fn with_num_shards(self, shards: u32) -> Self {
        WriteJson {
            text: self.text.with_num_shards(shards),
            _t: PhantomData,
        }
    }
}

/// Serializes each element to one line of JSON.
#[derive(Clone)]
struct ToJson<T>(PhantomData<fn(T)>);

impl<T: Element + Serialize> DoFn for ToJson<T> {
    type In = T;
    type Out = String;
    fn process(&mut self, value: T, ctx: &mut ProcessContext<'_, String>) -> DoFnResult {
        ctx.output(serde_json::to_string(&value)?);
        Ok(())
    }
}

impl<T: Element + Serialize> PTransform<PCollection<T>> for WriteJson<T> {
    type Output = PCollection<String>;
    fn expand(self, input: &PCollection<T>) -> PCollection<String> {
        input
            .apply("ToJson", ParDo::of(ToJson::<T>(PhantomData)))
            .apply("Write", self.text)
    }
}

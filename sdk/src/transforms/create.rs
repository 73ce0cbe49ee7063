//! Create and Impulse: PCollections from values in memory.

use crate::element::Element;
use crate::error::BoxError;
use crate::pcollection::PCollection;
use crate::pipeline::{PBegin, PTransform};
use crate::source::{BoundedSource, Read, SourceReader};
use crate::time::Timestamp;
use crate::windowed_value::TimestampedValue;
use std::sync::Arc;

/// A PCollection of the given values, in the global window.
///
/// `Create::of` gives every value the minimum timestamp (as Beam does);
/// `Create::timestamped` gives each value its own.
///
/// ```
/// use sluice_sdk::prelude::*;
/// let p = Pipeline::new();
/// let nums = p.apply("Nums", Create::of(vec![1, 2, 3]));
/// let events = p.apply("Events", Create::timestamped(vec![("a".to_string(), Timestamp::from_secs(5))]));
/// # let _ = (nums, events);
/// ```
pub struct Create<T> {
    values: Arc<Vec<TimestampedValue<T>>>,
}

impl<T: Element> Create<T> {
    /// The values, each at [`Timestamp::MIN`].
    pub fn of(values: impl IntoIterator<Item = T>) -> Self {
        let values = values
            .into_iter()
            .map(|v| TimestampedValue::new(v, Timestamp::MIN))
            .collect();
        Create {
            values: Arc::new(values),
        }
    }
    /// The values, each at its timestamp.
    pub fn timestamped(values: impl IntoIterator<Item = (T, Timestamp)>) -> Self {
        let values = values
            .into_iter()
            .map(|(v, t)| TimestampedValue::new(v, t))
            .collect();
        Create {
            values: Arc::new(values),
        }
    }
}

/// A slice of the values of a [`Create`], readable on its own.
pub struct CreateSource<T> {
    values: Arc<Vec<TimestampedValue<T>>>,
    start: usize,
    end: usize,
}

impl<T: Element> BoundedSource for CreateSource<T> {
    type Output = T;
    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError> {
        let len = self.end - self.start;
        let parts = desired.clamp(1, len.max(1));
        let step = len.div_ceil(parts).max(1);
        Ok((self.start..self.end.max(self.start + 1))
            .step_by(step)
            .map(|s| CreateSource {
                values: self.values.clone(),
                start: s,
                end: (s + step).min(self.end),
            })
            .filter(|s| s.start < s.end || len == 0)
            .collect())
    }
    fn estimated_size_bytes(&self) -> Option<u64> {
        Some(((self.end - self.start) * std::mem::size_of::<T>()) as u64)
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<T>>, BoxError> {
        Ok(Box::new(CreateReader {
            values: self.values.clone(),
            next: self.start,
            end: self.end,
        }))
    }
}

struct CreateReader<T> {
    values: Arc<Vec<TimestampedValue<T>>>,
    next: usize,
    end: usize,
}

impl<T: Element> SourceReader<T> for CreateReader<T> {
    fn read_batch(
        &mut self,
        max: usize,
        out: &mut Vec<TimestampedValue<T>>,
    ) -> Result<bool, BoxError> {
        let stop = (self.next + max.max(1)).min(self.end);
        out.extend_from_slice(&self.values[self.next..stop]);
        self.next = stop;
        Ok(self.next < self.end)
    }
}

impl<T: Element> PTransform<PBegin> for Create<T> {
    type Output = PCollection<T>;
    fn expand(self, input: &PBegin) -> Self::Output {
        let end = self.values.len();
        Read::from(CreateSource {
            values: self.values,
            start: 0,
            end,
        })
        .expand(input)
    }
}

/// A PCollection of exactly one empty byte array in the global window at the minimum
/// timestamp: the root that transforms without other input start from.
pub struct Impulse;

impl PTransform<PBegin> for Impulse {
    type Output = PCollection<Vec<u8>>;
    fn expand(self, input: &PBegin) -> Self::Output {
        Create::of(vec![Vec::<u8>::new()]).expand(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all<T: Element>(s: &CreateSource<T>) -> Vec<T> {
        let mut r = s.reader().unwrap();
        let mut out = Vec::new();
        while r.read_batch(2, &mut out).unwrap() {}
        out.into_iter().map(|tv| tv.value).collect()
    }

    #[test]
    fn splits_cover_every_value_once() {
        let values: Vec<_> = (0..10)
            .map(|v| TimestampedValue::new(v, Timestamp::MIN))
            .collect();
        let src = CreateSource {
            values: Arc::new(values),
            start: 0,
            end: 10,
        };
        let splits = src.split(3).unwrap();
        assert_eq!(splits.len(), 3);
        let all: Vec<i32> = splits.iter().flat_map(read_all).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let empty = CreateSource::<i32> {
            values: Arc::new(vec![]),
            start: 0,
            end: 0,
        };
        assert!(
            empty
                .split(4)
                .unwrap()
                .iter()
                .flat_map(read_all)
                .next()
                .is_none()
        );
    }
}

//! WithTimestamps: gives each element an event timestamp computed from its value.

use super::pardo::apply_bundle_fn;
use crate::element::Element;
use crate::pcollection::PCollection;
use crate::pipeline::PTransform;
use crate::time::{Duration, Timestamp};
use crate::windowed_value::WindowedValue;
use std::marker::PhantomData;

/// Sets each element's timestamp to `f(&value)`.
///
/// As in Beam, a new timestamp may not be earlier than the old one by more than the allowed
/// skew (zero by default): moving an element back in time could put it behind the watermark.
/// Elements of `Create::of` sit at the minimum timestamp, so any new timestamp is allowed.
pub struct WithTimestamps<F, T> {
    f: F,
    allowed_skew: Duration,
    _t: PhantomData<fn(T)>,
}

impl<T: Element, F: Fn(&T) -> Timestamp + Send + Sync + 'static> WithTimestamps<F, T> {
    /// Timestamps from `f`.
    pub fn of(f: F) -> Self {
        WithTimestamps {
            f,
            allowed_skew: Duration::ZERO,
            _t: PhantomData,
        }
    }
    /// Allows new timestamps up to `skew` before the old ones.
    pub fn with_allowed_timestamp_skew(self, skew: Duration) -> Self {
        WithTimestamps {
            allowed_skew: skew,
            ..self
        }
    }
}

impl<T: Element, F: Fn(&T) -> Timestamp + Send + Sync + 'static> PTransform<PCollection<T>>
    for WithTimestamps<F, T>
{
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> PCollection<T> {
        let (f, skew) = (self.f, self.allowed_skew);
        apply_bundle_fn(input, None, move |mut values: Vec<WindowedValue<T>>| {
            for wv in &mut values {
                let new = f(&wv.value);
                if new < wv.timestamp - skew {
                    return Err(format!(
                        "new timestamp {new} is before the element's timestamp {} by more than the allowed skew {skew}",
                        wv.timestamp
                    )
                    .into());
                }
                wv.timestamp = new;
            }
            Ok(values)
        })
    }
}

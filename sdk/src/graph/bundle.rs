//! [`Bundle`]: a batch of windowed values whose element type the runner does not know.
//!
//! Runners move bundles between fused operators, shuffles and sinks without knowing the element
//! type; only the typed code that the transforms supplied (operators, kernels) looks inside.
//! That keeps dynamic dispatch per bundle, never per element.

use crate::element::Element;
use crate::transforms::ElementMeta;
use crate::windowed_value::WindowedValue;
use std::any::Any;

trait ErasedVec: Send {
    fn len(&self) -> usize;
    fn clone_box(&self) -> Box<dyn ErasedVec>;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn split_off(&mut self, at: usize) -> Box<dyn ErasedVec>;
    fn element_type(&self) -> &'static str;
    fn vec_type_id(&self) -> std::any::TypeId;
    fn meta(&self) -> Vec<ElementMeta>;
    fn extract(&mut self, take: &[bool]) -> Box<dyn ErasedVec>;
    fn first_encoded_len(&self) -> u64;
}

impl<T: Element> ErasedVec for Vec<WindowedValue<T>> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn clone_box(&self) -> Box<dyn ErasedVec> {
        Box::new(self.clone())
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn split_off(&mut self, at: usize) -> Box<dyn ErasedVec> {
        Box::new(Vec::split_off(self, at))
    }
    fn element_type(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn vec_type_id(&self) -> std::any::TypeId {
        std::any::TypeId::of::<Vec<WindowedValue<T>>>()
    }
    fn meta(&self) -> Vec<ElementMeta> {
        self.iter()
            .map(|wv| ElementMeta {
                timestamp: wv.timestamp,
                window: wv.window,
                pane: wv.pane,
            })
            .collect()
    }
    fn extract(&mut self, take: &[bool]) -> Box<dyn ErasedVec> {
        let (mut taken, mut kept) = (Vec::new(), Vec::with_capacity(self.len()));
        for (wv, t) in std::mem::take(self).into_iter().zip(take) {
            if *t {
                taken.push(wv);
            } else {
                kept.push(wv);
            }
        }
        *self = kept;
        Box::new(taken)
    }
    fn first_encoded_len(&self) -> u64 {
        self.first()
            .and_then(|wv| crate::element::encoded_len(wv).ok())
            .unwrap_or(0)
    }
}

/// A batch of `WindowedValue<T>` for some element type `T` known to the code that made it.
pub struct Bundle(Box<dyn ErasedVec>);

impl Bundle {
    /// The encoded size of one element of the bundle (its first, with its timestamp, window
    /// and pane): a sample to estimate the bundle's size by, as Beam's runners estimate
    /// element sizes. 0 for an empty bundle.
    pub fn sampled_encoded_len(&self) -> u64 {
        self.0.first_encoded_len()
    }
    /// Wraps typed values.
    pub fn new<T: Element>(values: Vec<WindowedValue<T>>) -> Self {
        Bundle(Box::new(values))
    }
    /// An empty bundle of `T`.
    pub fn empty<T: Element>() -> Self {
        Bundle::new::<T>(Vec::new())
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether the bundle holds no values.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
    /// The Rust name of the element type (for error messages).
    pub fn element_type(&self) -> &'static str {
        self.0.element_type()
    }
    /// Takes the values out, if they are of type `T`; gives the bundle back otherwise.
    pub fn downcast<T: Element>(self) -> Result<Vec<WindowedValue<T>>, Bundle> {
        if self.0.vec_type_id() != std::any::TypeId::of::<Vec<WindowedValue<T>>>() {
            return Err(self);
        }
        match self.0.into_any().downcast::<Vec<WindowedValue<T>>>() {
            Ok(v) => Ok(*v),
            Err(_) => unreachable!("type ids matched"),
        }
    }
    /// The values, borrowed mutably, if they are of type `T`.
    pub fn downcast_mut<T: Element>(&mut self) -> Option<&mut Vec<WindowedValue<T>>> {
        self.0.as_any_mut().downcast_mut::<Vec<WindowedValue<T>>>()
    }
    /// The timestamp, window and pane of every value, in order.
    pub fn meta(&self) -> Vec<ElementMeta> {
        self.0.meta()
    }
    /// Moves the values whose entry in `take` is true into a new bundle (in order); the others
    /// stay. `take` has one entry per value.
    pub fn extract(&mut self, take: &[bool]) -> Bundle {
        Bundle(self.0.extract(take))
    }
    /// Moves the values from `at` on into a new bundle.
    pub fn split_off(&mut self, at: usize) -> Bundle {
        Bundle(self.0.split_off(at))
    }
    /// Splits the bundle into bundles of at most `size` values, in order.
    pub fn chunks(mut self, size: usize) -> Vec<Bundle> {
        let size = size.max(1);
        let mut out = Vec::with_capacity(self.len() / size + 1);
        // Cut from the back, so that each cut copies one chunk only.
        while self.len() > size {
            let at = (self.len() - 1) / size * size;
            out.push(self.split_off(at));
        }
        if !self.is_empty() {
            out.push(self);
        }
        out.reverse();
        out
    }
}

impl Clone for Bundle {
    fn clone(&self) -> Self {
        Bundle(self.0.clone_box())
    }
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bundle<{}>[{}]", self.element_type(), self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn downcasts_only_to_its_own_type_and_chunks_in_order() {
        let values: Vec<_> = (0..5)
            .map(|i| WindowedValue::in_global_window(i as u32, Timestamp::MIN))
            .collect();
        let b = Bundle::new(values);
        let b = b.downcast::<u64>().unwrap_err();
        let chunks = b.chunks(2);
        assert_eq!(
            chunks.iter().map(Bundle::len).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        let last = chunks
            .into_iter()
            .last()
            .unwrap()
            .downcast::<u32>()
            .unwrap();
        assert_eq!(last[0].value, 4);
    }

    #[test]
    fn extracts_by_mask_keeping_order() {
        let values: Vec<_> = (0..5u32)
            .map(|i| WindowedValue::in_global_window(i, Timestamp::from_secs(i.into())))
            .collect();
        let mut b = Bundle::new(values);
        assert_eq!(b.meta()[3].timestamp, Timestamp::from_secs(3));
        let taken = b.extract(&[true, false, true, false, false]);
        let values = |b: Bundle| -> Vec<u32> {
            b.downcast::<u32>()
                .unwrap()
                .into_iter()
                .map(|wv| wv.value)
                .collect()
        };
        assert_eq!(values(taken), vec![0, 2]);
        assert_eq!(values(b), vec![1, 3, 4]);
    }
}

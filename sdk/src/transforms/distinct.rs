//! Distinct: one of each element per window.

use super::combine::CombineFn;
use super::kv_transforms::Keys;
use crate::element::Key;
use crate::kv::KV;
use crate::pcollection::PCollection;
use crate::pipeline::PTransform;

/// Removes duplicates (per window). Elements are the same when they encode to the same bytes.
/// Each output takes the timestamp the windowing strategy's timestamp combiner gives its group.
pub struct Distinct;

/// A combine that keeps nothing but the fact that a key was seen.
#[derive(Clone)]
struct Seen;

impl CombineFn for Seen {
    type Input = ();
    type Accumulator = ();
    type Output = ();
    fn create_accumulator(&self) {}
    fn add_input(&self, _acc: &mut (), _input: ()) {}
    fn merge_accumulators(&self, _acc: &mut (), _other: ()) {}
    fn extract_output(&self, _acc: &()) {}
}

/// Combines with each element as its own key.
struct CombineElements<F>(F);

impl<T: Key, F: CombineFn<Input = ()>> PTransform<PCollection<T>> for CombineElements<F> {
    type Output = PCollection<KV<T, F::Output>>;
    fn expand(self, input: &PCollection<T>) -> Self::Output {
        super::combine::combine_elements_as_keys(input, self.0)
    }
}

impl<T: Key> PTransform<PCollection<T>> for Distinct {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> PCollection<T> {
        input
            .apply("Combine", CombineElements(Seen))
            .apply("Keys", Keys)
    }
}

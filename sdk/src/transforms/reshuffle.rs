//! Reshuffle: redistributes elements across workers and breaks fusion.

use super::pardo::keep_slices;
use crate::element::Element;
use crate::graph::NodeKind;
use crate::pcollection::PCollection;
use crate::pipeline::{OutputSpec, PTransform};

/// Passes every element through unchanged (value, timestamp, window, pane), but lets the runner
/// redistribute them: the transforms before and after it are not fused, so a step that
/// fans out (one element in, many out) is followed by parallel work again.
pub struct Reshuffle;

impl<T: Element> PTransform<PCollection<T>> for Reshuffle {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> PCollection<T> {
        let p = input.pipeline();
        let info = p.collection_info(input.id());
        let slices = keep_slices::<T>(&info);
        let (_, outs) = p.add_primitive_with_slices(
            NodeKind::Reshuffle,
            vec![input.id()],
            vec![],
            vec![OutputSpec::of::<T>(info.boundedness, info.windowing)],
            slices,
        );
        p.handle(outs[0])
    }
}

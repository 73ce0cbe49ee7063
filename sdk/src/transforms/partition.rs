//! Partition: splits a PCollection into a fixed number of PCollections.

use super::pardo::downcast_input;
use crate::element::Element;
use crate::error::BoxError;
use crate::graph::kernel::{Operator, OperatorFactory, SideInputs};
use crate::graph::{Bundle, NodeKind};
use crate::metrics::MetricsContainer;
use crate::pcollection::PCollection;
use crate::pipeline::{OutputSpec, PTransform};
use crate::windowed_value::WindowedValue;
use std::marker::PhantomData;
use std::sync::Arc;

/// Sends each element to output `f(&element, n)`, one of `n` PCollections. An index outside
/// `0..n` fails the pipeline with the index and the transform's name.
pub struct Partition<F, T> {
    n: usize,
    f: Arc<F>,
    _t: PhantomData<fn(T)>,
}

impl<T: Element, F: Fn(&T, usize) -> usize + Send + Sync + 'static> Partition<F, T> {
    /// `n` partitions chosen by `f`.
    pub fn of(n: usize, f: F) -> Self {
        Partition {
            n,
            f: Arc::new(f),
            _t: PhantomData,
        }
    }
}

struct PartitionOp<F, T> {
    n: usize,
    f: Arc<F>,
    _t: PhantomData<fn(T)>,
}

impl<T: Element, F: Fn(&T, usize) -> usize + Send + Sync + 'static> OperatorFactory
    for PartitionOp<F, T>
{
    fn create(&self, _side_inputs: &SideInputs) -> Result<Box<dyn Operator>, BoxError> {
        Ok(Box::new(PartitionOp::<F, T> {
            n: self.n,
            f: self.f.clone(),
            _t: PhantomData,
        }))
    }
    fn output_ports(&self) -> usize {
        self.n
    }
}

impl<T: Element, F: Fn(&T, usize) -> usize + Send + Sync + 'static> Operator for PartitionOp<F, T> {
    fn start_bundle(&mut self) -> Result<Vec<Bundle>, BoxError> {
        Ok((0..self.n).map(|_| Bundle::empty::<T>()).collect())
    }
    fn process(&mut self, input: Bundle) -> Result<Vec<Bundle>, BoxError> {
        let mut parts: Vec<Vec<WindowedValue<T>>> = (0..self.n).map(|_| Vec::new()).collect();
        for wv in downcast_input::<T>(input)? {
            let i = (self.f)(&wv.value, self.n);
            let part = parts.get_mut(i).ok_or_else(|| {
                format!(
                    "partition function returned {i}, but there are {} partitions",
                    self.n
                )
            })?;
            part.push(wv);
        }
        Ok(parts.into_iter().map(Bundle::new).collect())
    }
    fn finish_bundle(&mut self) -> Result<Vec<Bundle>, BoxError> {
        self.start_bundle()
    }
    fn teardown(&mut self) {}
    fn take_metrics(&mut self) -> MetricsContainer {
        MetricsContainer::default()
    }
}

impl<T: Element, F: Fn(&T, usize) -> usize + Send + Sync + 'static> PTransform<PCollection<T>>
    for Partition<F, T>
{
    type Output = Vec<PCollection<T>>;
    fn expand(self, input: &PCollection<T>) -> Vec<PCollection<T>> {
        let p = input.pipeline();
        let info = p.collection_info(input.id());
        let specs = (0..self.n)
            .map(|_| OutputSpec::of::<T>(info.boundedness, info.windowing.clone()))
            .collect();
        let op = PartitionOp::<F, T> {
            n: self.n,
            f: self.f,
            _t: PhantomData,
        };
        let (_, outs) = p.add_primitive(
            NodeKind::ParDo(Arc::new(op)),
            vec![input.id()],
            vec![],
            specs,
        );
        outs.into_iter().map(|id| p.handle(id)).collect()
    }
}

//! Tagged outputs of a transform whose primitive has one output: the stateful ParDo.
//!
//! A keyed primitive (like the stateful ParDo) emits one collection. To give it tagged
//! outputs, as a ParDo has, its outputs leave it encoded and marked with their port
//! ([`take_encoded`]: 0 for the main output, `i` for the `i`-th tag), and a ParDo right after
//! it ([`split`]) decodes each into the collection of its port. The encoding is paid only by a
//! transform that declares tagged outputs.

use super::pardo::{PCollectionTuple, downcast_input, output_specs};
use crate::dofn::{EncodedOutput, ErasedTag, Outputs};
use crate::element::{CoderError, Element, decode};
use crate::error::BoxError;
use crate::graph::kernel::{Operator, OperatorFactory, SideInputs};
use crate::graph::{Bundle, NodeKind};
use crate::pcollection::PCollection;
use crate::pipeline::PTransform;
use crate::windowed_value::WindowedValue;
use std::marker::PhantomData;
use std::sync::Arc;

/// Moves every output out of `outputs`, encoded with its port.
pub(crate) fn take_encoded<O: Element>(outputs: &mut Outputs<O>) -> Result<Bundle, CoderError> {
    let mut encoded: Vec<WindowedValue<EncodedOutput>> = Vec::with_capacity(outputs.main.len());
    for wv in outputs.main.drain(..) {
        let bytes = crate::element::encode(&wv.value)?;
        encoded.push(WindowedValue::new(
            (0, bytes),
            wv.timestamp,
            wv.window,
            wv.pane,
        ));
    }
    for (i, (_, _, buffer)) in outputs.tagged.iter_mut().enumerate() {
        buffer.take_encoded(i as u32 + 1, &mut encoded)?;
    }
    Ok(Bundle::new(encoded))
}

/// Splits a collection of encoded outputs into the main output (`O`) and one per tag.
pub(crate) fn split<O: Element>(
    encoded: &PCollection<EncodedOutput>,
    tags: Vec<ErasedTag>,
) -> PCollectionTuple<O> {
    encoded.apply(
        "Split",
        Split::<O> {
            tags,
            _out: PhantomData,
        },
    )
}

struct Split<O> {
    tags: Vec<ErasedTag>,
    _out: PhantomData<fn() -> O>,
}

impl<O: Element> PTransform<PCollection<EncodedOutput>> for Split<O> {
    type Output = PCollectionTuple<O>;
    fn expand(self, input: &PCollection<EncodedOutput>) -> Self::Output {
        let p = input.pipeline();
        let specs = output_specs::<EncodedOutput, O>(input, &self.tags);
        let factory = SplitFactory::<O> {
            tags: self.tags.clone(),
            _out: PhantomData,
        };
        let (_, outs) = p.add_primitive(
            NodeKind::ParDo(Arc::new(factory)),
            vec![input.id()],
            Vec::new(),
            specs,
        );
        PCollectionTuple::new(p.clone(), &outs, &self.tags)
    }
}

struct SplitFactory<O> {
    tags: Vec<ErasedTag>,
    _out: PhantomData<fn() -> O>,
}

impl<O: Element> OperatorFactory for SplitFactory<O> {
    fn create(&self, side_inputs: &SideInputs) -> Result<Box<dyn Operator>, BoxError> {
        Ok(Box::new(SplitOperator {
            out: Outputs::<O>::new(&self.tags, side_inputs.clone()),
        }))
    }
    fn output_ports(&self) -> usize {
        1 + self.tags.len()
    }
}

struct SplitOperator<O> {
    out: Outputs<O>,
}

impl<O: Element> Operator for SplitOperator<O> {
    fn start_bundle(&mut self) -> Result<Vec<Bundle>, BoxError> {
        Ok(self.out.take_bundles())
    }
    fn process(&mut self, input: Bundle) -> Result<Vec<Bundle>, BoxError> {
        for wv in downcast_input::<EncodedOutput>(input)? {
            match wv.value.0 {
                0 => {
                    let value: O = decode(&wv.value.1)?;
                    let decoded = WindowedValue::new(value, wv.timestamp, wv.window, wv.pane);
                    self.out.main.push(decoded);
                }
                port => {
                    let (_, name, buffer) =
                        self.out.tagged.get_mut(port as usize - 1).ok_or_else(|| {
                            format!("an output for port {port}, which is not declared")
                        })?;
                    buffer
                        .push_encoded(wv)
                        .map_err(|e| format!("output '{name}': {e}"))?;
                }
            }
        }
        Ok(self.out.take_bundles())
    }
    fn finish_bundle(&mut self) -> Result<Vec<Bundle>, BoxError> {
        Ok(self.out.take_bundles())
    }
    fn teardown(&mut self) {}
    fn take_metrics(&mut self) -> crate::metrics::MetricsContainer {
        Default::default()
    }
}

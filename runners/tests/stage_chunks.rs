//! A fused stage hands an operator that multiplies its input (WindowInto with sliding
//! windows) chunks small enough that its outputs stay bounded, on every runner.

use sluice_runner_core::stage::MAX_OUTPUTS_PER_CALL;
use sluice_runners::{PipelineOptions, run};
use sluice_sdk::error::BoxError;
use sluice_sdk::graph::Bundle;
use sluice_sdk::graph::NodeKind;
use sluice_sdk::graph::kernel::{Operator, OperatorFactory, SideInputs};
use sluice_sdk::metrics::MetricsContainer;
use sluice_sdk::pipeline::OutputSpec;
use sluice_sdk::prelude::*;
use std::sync::{Arc, Mutex};

const FACTOR: u64 = MAX_OUTPUTS_PER_CALL / 3;

/// Passes its input through, claiming up to [`FACTOR`] outputs per input, and records the
/// size of every input it is handed.
#[derive(Clone)]
struct Recording(Arc<Mutex<Vec<usize>>>);

impl OperatorFactory for Recording {
    fn create(&self, _: &SideInputs) -> Result<Box<dyn Operator>, BoxError> {
        Ok(Box::new(self.clone()))
    }
    fn output_ports(&self) -> usize {
        1
    }
    fn max_outputs_per_input(&self) -> u64 {
        FACTOR
    }
}

impl Operator for Recording {
    fn start_bundle(&mut self) -> Result<Vec<Bundle>, BoxError> {
        Ok(vec![Bundle::empty::<u32>()])
    }
    fn process(&mut self, input: Bundle) -> Result<Vec<Bundle>, BoxError> {
        self.0.lock().unwrap().push(input.len());
        Ok(vec![input])
    }
    fn finish_bundle(&mut self) -> Result<Vec<Bundle>, BoxError> {
        Ok(vec![Bundle::empty::<u32>()])
    }
    fn teardown(&mut self) {}
    fn take_metrics(&mut self) -> MetricsContainer {
        MetricsContainer::default()
    }
}

impl PTransform<PCollection<u32>> for Recording {
    type Output = ();
    fn expand(self, input: &PCollection<u32>) {
        let p = input.pipeline();
        let info = p.collection_info(input.id());
        p.add_primitive(
            NodeKind::ParDo(Arc::new(self)),
            vec![input.id()],
            vec![],
            vec![OutputSpec::of::<u32>(info.boundedness, info.windowing)],
        );
    }
}

#[test]
fn an_operator_that_multiplies_its_input_is_handed_chunks() {
    for runner in ["direct", "rayon"] {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let p = Pipeline::new();
        p.apply("Create", Create::of(0..1000u32))
            .apply("Multiply", Recording(sizes.clone()));
        run(&p, &PipelineOptions::for_runner(runner)).unwrap();
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 1000, "{runner}");
        assert!(sizes.iter().all(|&n| n <= 3), "{runner}: {sizes:?}");
    }
}

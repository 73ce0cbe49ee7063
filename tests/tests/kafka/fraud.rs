//! fraud_detection over a 4-partition topic: the same alerts as the plain model of the rule,
//! bounded on every runner and unbounded on the direct runner.

use super::options;
use sluice_examples::fraud_detection::build;
use sluice_examples::job_io::InputOptions;
use sluice_examples::transactions::generate;
use sluice_io::kafka;
use sluice_runners::{run, start};
use sluice_sdk::prelude::*;
use sluice_tests::kafka::{broker, topic_lines, unique_topic};
use sluice_tests::wait_for;
use std::time::Duration as StdDuration;

/// How many transactions go through the topic (`SLUICE_FRAUD_KAFKA_TRANSACTIONS`). The test
/// broker (tansu on SQLite) takes records slowly, and an unbounded read from it is slower
/// still: a few thousand keep the suite inside its budget.
fn transaction_count() -> usize {
    std::env::var("SLUICE_FRAUD_KAFKA_TRANSACTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

#[test]
fn fraud_alerts_from_a_topic_equal_the_model() {
    let bootstrap = broker();
    let generated = generate(transaction_count(), 200, 30_000, 5);
    let expected = sluice_tests::fraud_model(&generated.transactions);
    let topic = unique_topic("transactions");
    // Keyed by account (field 2): one account's transactions stay in one partition.
    sluice_tests::kafka::load_events(&bootstrap, &topic, 4, &generated.lines);
    let input = format!("kafka://{bootstrap}/{topic}");
    let dir = sluice_tests::temp_dir("kafka-fraud");
    let bounded = InputOptions {
        stop_at_end: true,
        // The transactions are out of order by up to 30 s.
        max_delay: Duration::from_secs(60),
        ..InputOptions::default()
    };
    for runner in ["direct", "rayon"] {
        let out = dir.join(format!("{runner}/alerts")).display().to_string();
        let p = Pipeline::new();
        build(&p, &input, &out, &bounded);
        run(&p, &options(runner)).unwrap();
        assert_eq!(
            sluice_tests::sorted_lines(&out),
            expected,
            "{runner}, bounded"
        );
        assert_eq!(
            sluice_tests::sorted_lines(&format!("{out}-errors")).len(),
            generated.malformed,
            "{runner}: dead letters"
        );
    }

    // Unbounded, into a topic, ordered by the watermark as it passes; the run is cancelled
    // once most alerts are out, and the drain releases the rest.
    let out_topic = unique_topic("alerts");
    kafka::create_topic(&bootstrap, &out_topic, 2).unwrap();
    let p = Pipeline::new();
    build(
        &p,
        &input,
        &format!("kafka://{bootstrap}/{out_topic}"),
        &InputOptions {
            stop_at_end: false,
            idle_timeout: Duration::from_secs(1),
            ..bounded
        },
    );
    let handle = start(&p, &options("direct")).unwrap();
    wait_for(
        "most alerts in the output topic",
        StdDuration::from_secs(300),
        || {
            let found = topic_lines(&bootstrap, &out_topic).len();
            eprintln!("{found} of {} alerts in the output topic", expected.len());
            found * 10 >= expected.len() * 9
        },
    );
    handle.cancel();
    assert_eq!(handle.wait().unwrap().state, PipelineState::Cancelled);
    assert_eq!(
        topic_lines(&bootstrap, &out_topic),
        expected,
        "direct, unbounded"
    );
}

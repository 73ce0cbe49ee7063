//! enrich in streaming: the reference table is re-read while the job runs, and events that
//! arrive after a change see the new names.

use super::options;
use super::watermarks::kafka_now;
use sluice_examples::enrich::build;
use sluice_examples::job_io::InputOptions;
use sluice_io::kafka;
use sluice_runners::start;
use sluice_sdk::prelude::*;
use sluice_tests::kafka::{TestRecord, broker, produce, topic_lines, unique_topic};
use sluice_tests::wait_for;
use std::time::Duration as StdDuration;

#[test]
fn events_see_the_table_as_it_is_when_they_arrive() {
    table_refreshes_on("direct");
}

#[test]
fn events_see_the_table_as_it_is_when_they_arrive_on_timely() {
    table_refreshes_on("timely");
}

/// The refreshing table on `runner`.
fn table_refreshes_on(runner: &str) {
    let bootstrap = broker();
    let dir = sluice_tests::temp_dir(&format!("kafka-enrich-{runner}"));
    let table = dir.join("table.csv");
    let write_table = |version: &str| {
        // Written beside and renamed: a reading never sees half a file.
        let tmp = dir.join("table.tmp");
        std::fs::write(&tmp, format!("a,{version}-a\nb,{version}-b\n")).unwrap();
        std::fs::rename(&tmp, &table).unwrap();
    };
    write_table("v1");
    let (input, output) = (unique_topic("events"), unique_topic("enriched"));
    kafka::create_topic(&bootstrap, &input, 2).unwrap();
    kafka::create_topic(&bootstrap, &output, 1).unwrap();
    let p = Pipeline::new();
    build(
        &p,
        &format!("kafka://{bootstrap}/{input}"),
        &table.display().to_string(),
        &format!("kafka://{bootstrap}/{output}"),
        Duration::from_millis(300),
        &InputOptions {
            idle_timeout: Duration::from_secs(1),
            ..InputOptions::default()
        },
    );
    let handle = start(&p, &options(runner)).unwrap();
    let now = kafka_now().as_millis();
    let event = |i: i64, key: &str| TestRecord {
        value: format!("{},{key},{i}", now + i).into_bytes(),
        timestamp_ms: Some(now + i),
        ..TestRecord::default()
    };
    produce(
        &bootstrap,
        &input,
        &[event(1, "a"), event(2, "b"), event(3, "z")],
    );
    let first = [
        format!("{},a,1,v1-a", now + 1),
        format!("{},b,2,v1-b", now + 2),
        format!("{},z,3,-", now + 3),
    ];
    wait_for(
        "the first events, enriched",
        StdDuration::from_secs(90),
        || {
            let got = topic_lines(&bootstrap, &output);
            first.iter().all(|l| got.contains(l))
        },
    );
    write_table("v2");
    // Readings every 300 ms: after a few of them the new table is the view.
    std::thread::sleep(StdDuration::from_secs(3));
    produce(&bootstrap, &input, &[event(4, "a")]);
    let second = format!("{},a,4,v2-a", now + 4);
    wait_for(
        "an event after the change, with the new name",
        StdDuration::from_secs(90),
        || topic_lines(&bootstrap, &output).contains(&second),
    );
    handle.cancel();
    handle.wait().unwrap();
    let got = topic_lines(&bootstrap, &output);
    assert_eq!(got.len(), 4, "{got:?}");
}

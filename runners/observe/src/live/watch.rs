//! Everything that watches one run: the live metrics store, the sampler that keeps their
//! history and logs them, and the servers the options ask for. Made by `run`/`start` when a
//! flag asks for it, dropped (servers stopped) when the run ends.

use super::LiveMetrics;
use super::history::{History, Sampler};
use super::server::{Server, Watched, bind, metrics_routes, ui_routes};
use sluice_options::PipelineOptions;
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::Graph;
use std::sync::{Arc, Mutex};

/// What watches a run, alive as long as it is kept.
pub struct Watch {
    /// The live metrics the runner updates.
    pub live: LiveMetrics,
    /// The `--metrics-addr` server, if asked for.
    pub metrics: Option<Server>,
    /// The `--ui` server, if asked for.
    pub ui: Option<Server>,
    _sampler: Sampler,
}

impl Watch {
    /// Starts what `options` ask for on a run of `graph` (nothing when no flag asks): binds the
    /// servers' addresses first, so that an address in use is an error before anything runs.
    /// A process that is not the one to `serve` (a copy started by another, which would want
    /// the same addresses) watches nothing.
    pub fn start(
        graph: &Graph,
        options: &PipelineOptions,
        serve: bool,
    ) -> Result<Option<Watch>, PipelineError> {
        let log_every = options
            .log_metrics_interval
            .map(|d| std::time::Duration::from_micros(d.as_micros().max(1_000) as u64));
        let asked = options.metrics_addr.is_some() || options.ui.is_some() || log_every.is_some();
        if !asked || !serve {
            return Ok(None);
        }
        let metrics_listener = options
            .metrics_addr
            .as_deref()
            .map(|a| bind("--metrics-addr", a))
            .transpose()?;
        let ui_listener = options.ui.as_deref().map(|a| bind("--ui", a)).transpose()?;
        let live = LiveMetrics::for_graph(graph);
        let history = Arc::new(Mutex::new(History::default()));
        let sampler = Sampler::start(live.clone(), Arc::clone(&history), log_every)
            .map_err(|e| PipelineError::InvalidOption(format!("cannot sample metrics: {e}")))?;
        let watched = Watched {
            live: live.clone(),
            history,
        };
        let metrics = metrics_listener
            .map(|l| Server::start(l, metrics_routes(watched.clone())))
            .transpose()
            .map_err(|e| PipelineError::InvalidOption(format!("--metrics-addr: {e}")))?;
        let ui = ui_listener
            .map(|l| {
                // Each box gets an empty last line: room for the page's live figures.
                let mut diagram = crate::picture::Diagram::of_graph(graph);
                for b in &mut diagram.boxes {
                    b.lines.push(String::new());
                }
                let svg = crate::picture::svg::write(&[diagram]);
                Server::start(l, ui_routes(watched.clone(), svg))
            })
            .transpose()
            .map_err(|e| PipelineError::InvalidOption(format!("--ui: {e}")))?;
        // A port of 0 takes a free one: say which, or nobody could reach it.
        let asked_any_port =
            |flag: &Option<String>| flag.as_deref().is_some_and(|a| a.ends_with(":0"));
        if let Some(s) = &metrics {
            tracing::info!("metrics at http://{}/metrics", s.addr);
            if asked_any_port(&options.metrics_addr) {
                eprintln!("--metrics-addr: serving http://{}/metrics", s.addr);
            }
        }
        if let Some(s) = &ui {
            tracing::info!("status page at http://{}/", s.addr);
            if asked_any_port(&options.ui) {
                eprintln!("--ui: the status page is at http://{}/", s.addr);
            }
        }
        Ok(Some(Watch {
            live,
            metrics,
            ui,
            _sampler: sampler,
        }))
    }
}

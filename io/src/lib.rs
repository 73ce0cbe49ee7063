//! # Sluice IO: sources and sinks
//!
//! Connectors between pipelines and the outside world. Each connector is a source (a
//! `BoundedSource` of the model) or a sink (a transform that writes), and knows nothing of
//! runners. In-memory input is in the SDK (`Create`); file IO (`text`) and Kafka (`kafka`)
//! arrive as their own modules.

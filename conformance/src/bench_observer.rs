//! Which observer rgrpc's bench binaries install, so `make bench` can measure what observing
//! calls costs: `RGRPC_BENCH_OBSERVER=none` (the default: no observer, the path every other
//! number is measured on), `noop` (the hook with an observer that does nothing), or `otel`
//! (rgrpc-otel's A66 and semantic-convention metrics into an OpenTelemetry SDK meter provider
//! whose reader exports hourly: every measurement is aggregated, nothing is exported).
//!
//! An environment variable rather than a flag: the flag parser is shared with tonic's bench
//! binaries, which have no such thing.

use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use rgrpc_runtime::observe::NoopObserver;
use rgrpc_runtime::{ChannelBuilder, ServerBuilder};

/// The environment variable naming the observer.
pub const VAR: &str = "RGRPC_BENCH_OBSERVER";

/// The observer choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// No observer.
    None,
    /// [`NoopObserver`].
    Noop,
    /// [`rgrpc_otel::OtelObserver`] on an SDK meter provider.
    Otel,
}

impl Choice {
    /// Reads [`VAR`]; an unknown value is an error.
    pub fn from_env() -> Result<Choice, String> {
        match std::env::var(VAR).as_deref() {
            Err(_) | Ok("") | Ok("none") => Ok(Choice::None),
            Ok("noop") => Ok(Choice::Noop),
            Ok("otel") => Ok(Choice::Otel),
            Ok(other) => Err(format!("{VAR}={other:?}: expected none, noop or otel")),
        }
    }

    fn otel() -> rgrpc_otel::OtelObserver {
        use opentelemetry::metrics::MeterProvider as _;
        // Lives as long as the process, so the instruments keep aggregating.
        static PROVIDER: std::sync::OnceLock<SdkMeterProvider> = std::sync::OnceLock::new();
        let provider = PROVIDER.get_or_init(|| {
            // An export an hour: during a run every measurement is aggregated and none is
            // exported, so what is measured is the recording path.
            let reader = PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(std::time::Duration::from_secs(3600))
                .build();
            SdkMeterProvider::builder().with_reader(reader).build()
        });
        rgrpc_otel::OtelObserver::builder(provider.meter("rgrpc-bench")).build()
    }

    /// Installs the chosen observer on a server.
    pub fn server(self, builder: ServerBuilder) -> ServerBuilder {
        match self {
            Choice::None => builder,
            Choice::Noop => builder.observer(NoopObserver::default()),
            Choice::Otel => builder.observer(Self::otel()),
        }
    }

    /// Installs the chosen observer on a channel.
    pub fn channel(self, builder: ChannelBuilder) -> ChannelBuilder {
        match self {
            Choice::None => builder,
            Choice::Noop => builder.observer(NoopObserver::default()),
            Choice::Otel => builder.observer(Self::otel()),
        }
    }
}

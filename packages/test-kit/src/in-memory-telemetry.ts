import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'

/** OpenTelemetry SDK providers that keep what they record in memory, for asserting it. */
export interface InMemoryTelemetry {
  tracerProvider: BasicTracerProvider
  meterProvider: MeterProvider
  /** The spans ended so far. */
  spans(): ReadableSpan[]
  /** The data points of one metric, collected now (cumulative). */
  points(name: string): Promise<DataPoint<number | Histogram>[]>
  /** Shuts both providers down. */
  shutdown(): Promise<void>
}

/**
 * A tracer provider and a meter provider of the OpenTelemetry SDK with in-memory exporters. Hand
 * them to `instrumentPortcullis` (passed by the caller: the kit depends on no Portcullis package).
 * Metrics are exported only when `points` collects them (the periodic export is an hour away).
 */
export function inMemoryTelemetry(): InMemoryTelemetry {
  const exporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  })
  const meterProvider = new MeterProvider({ readers: [reader] })
  return {
    tracerProvider,
    meterProvider,
    spans: () => exporter.getFinishedSpans(),
    async points(name) {
      const { resourceMetrics } = await reader.collect()
      return resourceMetrics.scopeMetrics
        .flatMap((scope) => scope.metrics)
        .filter((metric) => metric.descriptor.name === name)
        .flatMap((metric) => metric.dataPoints as DataPoint<number | Histogram>[])
    },
    async shutdown() {
      await tracerProvider.shutdown()
      await meterProvider.shutdown()
    },
  }
}

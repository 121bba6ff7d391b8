'use strict';
// Configuration (b) of scripts/bench/node_peer.sh: the OpenTelemetry
// JavaScript SDK as the operators' plan proposes it, loaded before the
// server with `node --require ./otel.js server.js PORT`.
//
// - @opentelemetry/sdk-node's NodeSDK with @opentelemetry/instrumentation-http
//   (default options: a server span per request, the http.server.duration
//   histogram, W3C trace-context and baggage propagation);
// - metrics: @opentelemetry/exporter-prometheus serving /metrics on
//   127.0.0.1:$OTEL_PEER_METRICS_PORT;
// - traces: no exporter. The SDK registers a tracer provider only when it has
//   a span processor, so it gets the SDK's NoopSpanProcessor: the default
//   sampler (parent-based, always on) records every span, with its attributes
//   and timings, and the processor drops it when it ends. A real exporter
//   (batching, serialising, sending) would cost more: this is the SDK's
//   cheapest configuration that still traces;
// - logs: no log record processor (the SDK would otherwise make an OTLP one).
const { NodeSDK, tracing } = require('@opentelemetry/sdk-node');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { PrometheusExporter } = require('@opentelemetry/exporter-prometheus');

const metricsPort = Number(process.env.OTEL_PEER_METRICS_PORT || 9464);
const sdk = new NodeSDK({
  serviceName: 'node-peer',
  instrumentations: [new HttpInstrumentation()],
  metricReaders: [new PrometheusExporter({ host: '127.0.0.1', port: metricsPort })],
  spanProcessors: [new tracing.NoopSpanProcessor()],
  logRecordProcessors: [],
});
sdk.start();

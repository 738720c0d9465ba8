import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The responder's Prometheus metrics, on a registry of its own (no global default registry). */
export class IntakeMetrics {
  readonly registry = new Registry();
  readonly signals = new Counter({
    name: 'amber_signals_total',
    help: 'Signals received, by source and outcome (queued, duplicate, unmatched, ignored, rejected, failed)',
    labelNames: ['source', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly policyMatches = new Counter({
    name: 'amber_policy_matches_total',
    help: 'Signals matched, by policy',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });
  readonly capturesQueued = new Counter({
    name: 'amber_captures_queued_total',
    help: 'Captures durably queued, by policy',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: 'amber_capture_duplicates_total',
    help: 'Capture requests answered with an existing capture, by policy',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });
  readonly intakeSeconds = new Histogram({
    name: 'amber_intake_duration_seconds',
    help: 'Time from request to answer on the intake routes',
    labelNames: ['route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'amber_' });
  }
}

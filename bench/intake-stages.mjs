#!/usr/bin/env node
// bench/intake-stages: in-process timings of each stage of the Falco intake for the benchmark
// alert (duplicate path), with the 50 benchmark policies. No HTTP, no load generator: each stage
// runs in a tight loop, so the figures are a lower bound of what the stage costs inside a server
// (no cache misses, no GC pressure from the rest of the request), but they are stable on a busy
// machine where bench/intake's req/s are not. `npm run build && node bench/intake-stages.mjs`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { FIXED_POD_SUFFIX, TOKEN, alertBody, generatePolicyYaml } from './intake.mjs';

const DIST = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, DIST));
const [
  { parsePolicies },
  { normaliseFalco },
  { evaluatePolicies, PolicyIndex },
  { captureKeys, planCapture },
  { FileQueue },
  { IntakeMetrics },
  { respondToSignals, IntakeAnswer },
  { createLogger },
  { tokenAuthenticator },
  { FalcoEvent },
  { signalDigest },
] = await Promise.all([
  imp('policy/load-policies.js'),
  imp('intake/normalise-falco.js'),
  imp('policy/evaluate-policies.js'),
  imp('core/decision.js'),
  imp('queue/file-queue.js'),
  imp('http/intake-metrics.js'),
  imp('http/respond-to-signals.js'),
  imp('cli/create-logger.js'),
  imp('http/token-auth.js'),
  imp('intake/falco-event.js'),
  imp('core/signal.js'),
]);
const { TypeBoxValidatorCompiler } = await import('@fastify/type-provider-typebox');
const { default: fastJsonStringify } = await import('fast-json-stringify');
const { default: secureJson } = await import('secure-json-parse');

const policies = parsePolicies([{ file: 'bench-policies.yaml', text: generatePolicyYaml() }]);
const onePolicy = policies.filter((p) => p.name === 'interactive-shell');
const text = alertBody(FIXED_POD_SUFFIX);
const event = JSON.parse(text);
const dataDir = await mkdtemp(join(tmpdir(), 'amber-bench-'));
const queue = await FileQueue.open({ dir: join(dataDir, 'journal') });
try {
  const metrics = new IntakeMetrics({ processMetrics: true });
  const { Histogram, Registry } = await import('prom-client');
  const promHistogram = new Histogram({
    name: 'h',
    help: 'as amber_intake_duration_seconds was',
    labelNames: ['route', 'status'],
    registers: [new Registry()],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  const devNull = new Writable({ write: (_c, _e, done) => done() });
  const log = createLogger('warn', devNull);
  const infoLog = createLogger('info', devNull);
  const auth = tokenAuthenticator([TOKEN], { acceptClientCerts: false });
  const request = { headers: { authorization: `Bearer ${TOKEN}` }, raw: { socket: {} } };
  const validate = TypeBoxValidatorCompiler({ schema: FalcoEvent, httpPart: 'body' });
  const serialize = fastJsonStringify(IntakeAnswer);
  const signal = normaliseFalco(event, text).signals[0];
  const decisions = evaluatePolicies(policies, signal);
  if (decisions.length !== 1) throw new Error(`expected 1 matching policy, got ${decisions.map((d) => d.policy)}`);
  await queue.enqueue(planCapture(decisions[0])); // from now on: duplicates
  // As the intake routes build them: the policies indexed by rule name once.
  const index = new PolicyIndex(policies);
  const deps = { policies, index, queue, metrics };
  const answer = (await respondToSignals('falco', normaliseFalco(event, text), deps, log)).body;

  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const stages = [
    ['JSON parse, as amber (secure-json-parse, proto+constructor checks)', () => secureJson.parse(text, { protoAction: 'error', constructorAction: 'error' })],
    ['TypeBox validation of FalcoEvent (body)', () => validate(event)],
    ['normaliseFalco', () => normaliseFalco(event, text)],
    ['signalDigest: sha256 of the 1,330-byte body (new captures only)', () => signalDigest(signal)],
    ['evaluatePolicies, 50 policies', () => evaluatePolicies(policies, signal)],
    ['evaluatePolicies, 1 policy', () => evaluatePolicies(onePolicy, signal)],
    ['PolicyIndex.evaluate, 50 policies (what the intake uses)', () => index.evaluate(signal)],
    ['planCapture (new captures only)', () => planCapture(decisions[0])],
    ['queue.existing, duplicate (what the intake asks first)', () => queue.existing(captureKeys(decisions[0]))],
    ['queue.enqueue, duplicate', () => queue.enqueue(planCapture(decisions[0]))],
    ['respondToSignals (normalise + evaluate + enqueue + metrics), log level warn', () => respondToSignals('falco', normaliseFalco(event, text), deps, log)],
    ['respondToSignals, log level info', () => respondToSignals('falco', normaliseFalco(event, text), deps, infoLog)],
    ['token auth (character-by-character comparison)', () => auth.authenticate(request)],
    ['metrics: prom-client histogram observe with labels (before)', () => promHistogram.observe({ route: '/v1/alerts/falco', status: '200' }, 0.002)],
    ['metrics: prom-client counter inc with labels (before)', () => metrics.signals.inc({ source: 'falco', outcome: 'duplicate' })],
    ['metrics: intake histogram, observeIntake (now)', () => metrics.observeIntake('/v1/alerts/falco', 200, 0.002)],
    ['metrics: counter, countSignal (now)', () => metrics.countSignal('falco', 'duplicate')],
    ['pino child logger per request', () => log.child({ reqId: 'req-1' })],
    ['response serialisation (fast-json-stringify)', () => serialize(answer)],
  ];
  const results = new Map(stages.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of stages) {
      const n = 20_000;
      for (let i = 0; i < n / 10; i++) await fn();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await fn();
      results.get(name).push(Number(process.hrtime.bigint() - t0) / 1e3 / n);
    }
  }
  console.log(`# intake stages: duplicate path, ${text.length}-byte Falco event, ${policies.length} policies, best of ${rounds} rounds of 20,000\n`);
  console.log('| stage | µs per call |');
  console.log('| --- | ---: |');
  for (const [name, xs] of results) console.log(`| ${name} | ${Math.min(...xs).toFixed(2)} |`);
} finally {
  await queue.close();
  await rm(dataDir, { recursive: true, force: true });
}

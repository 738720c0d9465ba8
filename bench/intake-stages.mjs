#!/usr/bin/env node
// bench/intake-stages: in-process timings of each stage of the Falco intake for the benchmark
// alert (duplicate path), with the 50 benchmark policies. No HTTP, no load generator: each stage
// runs in a tight loop, so the figures are a lower bound of what the stage costs inside a server
// (no cache misses, no GC pressure from the rest of the request), but they are stable on a busy
// machine where bench/intake's req/s are not. `npm run build && node bench/intake-stages.mjs`.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { FIXED_POD_SUFFIX, TOKEN, alertBody, generatePolicyYaml } from './intake.mjs';

const DIST = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, DIST));
const [
  { parsePolicies }, { normaliseFalco }, { evaluatePolicies }, { planCapture }, { FileQueue }, { IntakeMetrics },
  { respondToSignals, IntakeAnswer }, { createLogger }, { tokenAuthenticator }, { FalcoEvent },
] = await Promise.all([
  imp('policy/load-policies.js'), imp('intake/normalise-falco.js'), imp('policy/evaluate-policies.js'), imp('core/decision.js'),
  imp('queue/file-queue.js'), imp('http/intake-metrics.js'), imp('http/respond-to-signals.js'), imp('cli/create-logger.js'),
  imp('http/token-auth.js'), imp('intake/falco-event.js'),
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
  const deps = { policies, queue, metrics };
  const answer = (await respondToSignals('falco', normaliseFalco(event, text), deps, log)).body;

  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const stages = [
    ['JSON parse, as amber (secure-json-parse, proto+constructor checks)', () => secureJson.parse(text, { protoAction: 'error', constructorAction: 'error' })],
    ['TypeBox validation of FalcoEvent (body)', () => validate(event)],
    ['normaliseFalco (incl. sha256 of the body)', () => normaliseFalco(event, text)],
    ['  of which sha256 of the 1,330-byte body', () => createHash('sha256').update(text).digest('hex')],
    ['evaluatePolicies, 50 policies', () => evaluatePolicies(policies, signal)],
    ['evaluatePolicies, 1 policy', () => evaluatePolicies(onePolicy, signal)],
    ['planCapture', () => planCapture(decisions[0])],
    ['queue.enqueue, duplicate', () => queue.enqueue(planCapture(decisions[0]))],
    ['respondToSignals (normalise + evaluate + enqueue + metrics), log level warn', () => respondToSignals('falco', normaliseFalco(event, text), deps, log)],
    ['respondToSignals, log level info', () => respondToSignals('falco', normaliseFalco(event, text), deps, infoLog)],
    ['token auth (sha256 + timingSafeEqual)', () => auth.authenticate(request)],
    ['metrics: histogram observe with labels', () => metrics.intakeSeconds.observe({ route: '/v1/alerts/falco', status: '200' }, 0.002)],
    ['metrics: counter inc with labels', () => metrics.signals.inc({ source: 'falco', outcome: 'duplicate' })],
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

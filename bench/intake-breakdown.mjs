#!/usr/bin/env node
// bench/intake-breakdown: where the Falco intake's time goes, for the duplicate-alert path.
// Not a test. `npm run build && node bench/intake-breakdown.mjs`.
//
// Two series, each server in its own child process, driven like bench/intake (autocannon,
// loopback, same ~1.3 KiB Falco event, same connections), reporting server CPU µs per request
// (less sensitive than req/s to the load generator sharing the cores):
//  - ladder: a bare fastify route, then one of amber's HTTP features added at a time
//    (TypeBox body validation, response schema, raw-body parser, pino logger, auth hook,
//    metrics hook, swagger), built here from the same libraries and schemas;
//  - amber: the real buildApp with 50 policies, then with one dependency stubbed out at a time
//    (no-op logger, no auth, no-op metrics, 1 policy), to price each inside the real app.
//
// BENCH_MODE=inject: no sockets and no load generator; fastify's inject drives each app in-process,
// which prices the app's own user-space work without the two processes fighting over 2 cores.
// BENCH_DURATION s [5]  BENCH_WARMUP s [1]  BENCH_CONNECTIONS [50]  BENCH_ROUNDS [3]
// BENCH_ONLY comma list of variant prefixes (e.g. L0,A0)
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { FIXED_POD_SUFFIX, HOST, ROUTE, TOKEN, alertBody, generatePolicyYaml } from './intake.mjs';

const SELF = fileURLToPath(import.meta.url);
/** In a server child: its temp data dir, removed even when start-up fails. */
let serverDataDir;
const DIST = new URL('../dist/', import.meta.url);

const LADDER = [
  'L0 bare',
  'L1 +body schema',
  'L2 +response schema',
  'L3 +raw-body parser',
  'L4 +pino logger',
  'L5 +auth hook',
  'L6 +metrics hook',
  'L7 +swagger',
];
const AMBER = ['A0 amber', 'A1 amber, no-op logger', 'A2 amber, no auth', 'A3 amber, no-op metrics', 'A4 amber, 1 policy', 'A5 amber, all four'];

const noop = () => undefined;
const noopLogger = {
  level: 'silent',
  info: noop,
  error: noop,
  debug: noop,
  fatal: noop,
  warn: noop,
  trace: noop,
  silent: noop,
  child() {
    return this;
  },
};
const noopMetric = { inc: noop, observe: noop };

async function serve(variant) {
  const imp = (p) => import(new URL(p, DIST));
  const [
    { default: Fastify },
    { TypeBoxValidatorCompiler },
    { FalcoEvent },
    { IntakeAnswer },
    { createLogger },
    { tokenAuthenticator, noAuthenticator },
    { IntakeMetrics },
  ] = await Promise.all([
    import('fastify'),
    import('@fastify/type-provider-typebox'),
    imp('intake/falco-event.js'),
    imp('http/respond-to-signals.js'),
    imp('cli/create-logger.js'),
    imp('http/token-auth.js'),
    imp('http/intake-metrics.js'),
  ]);
  const devNull = new Writable({ write: (_c, _e, done) => done() });
  let app;
  let cleanup = async () => undefined;
  if (variant.startsWith('L')) {
    const level = Number(variant[1]);
    const auth = tokenAuthenticator([TOKEN], { acceptClientCerts: false });
    const metrics = new IntakeMetrics({ processMetrics: true });
    app = Fastify({
      ...(level >= 4 ? { loggerInstance: createLogger('warn', devNull), requestIdHeader: 'x-request-id', requestIdLogLabel: 'reqId' } : {}),
      onProtoPoisoning: 'error',
      onConstructorPoisoning: 'error',
      return503OnClosing: true,
    });
    if (level >= 1) app.setValidatorCompiler(TypeBoxValidatorCompiler);
    if (level >= 3) {
      const parseJson = app.getDefaultJsonParser('error', 'error');
      app.removeContentTypeParser('application/json');
      app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
        request.rawBody = body;
        parseJson(request, body, done);
      });
    }
    if (level >= 7) await app.register((await import('@fastify/swagger')).default, { openapi: { openapi: '3.1.0', info: { title: 'x', version: '0' } } });
    // As amber attaches them (2026-11-28): route-level, callback-style hooks; no routeOptions lookups.
    const routeHooks = {};
    if (level >= 5) {
      routeHooks.onRequest = (request, reply, done) => {
        const principal = auth.authenticate(request);
        if (principal === undefined) {
          reply.code(401).send({});
          return;
        }
        request.principal = principal;
        done();
      };
    }
    if (level >= 6) {
      routeHooks.onResponse = (request, reply, done) => {
        metrics.observeIntake(ROUTE, reply.statusCode, reply.elapsedTime / 1000);
        done();
      };
    }
    const answer = {
      captures: [
        {
          id: '01jd3x5k7m9p2q4r6s8t0v1w2x',
          policy: 'interactive-shell',
          target: { namespace: 'shop', pod: 'checkout-7d9f8b6c5-x2x9q', container: 'checkout' },
          duplicate: true,
        },
      ],
      reason: 'duplicate of an existing capture',
    };
    app.post(
      ROUTE,
      {
        config: { auth: true },
        ...routeHooks,
        schema: { ...(level >= 1 ? { body: FalcoEvent } : {}), ...(level >= 2 ? { response: { 200: IntakeAnswer } } : {}) },
      },
      async () => (level >= 2 ? answer : {}),
    );
  } else {
    const [{ buildApp }, { FileQueue }, { parsePolicies }, { DEFAULT_SETTINGS }] = await Promise.all([
      imp('http/build-app.js'),
      imp('queue/file-queue.js'),
      imp('policy/load-policies.js'),
      imp('config/settings.js'),
    ]);
    const all = variant.startsWith('A5');
    let policies = parsePolicies([{ file: 'bench-policies.yaml', text: generatePolicyYaml() }]);
    if (all || variant.startsWith('A4')) policies = policies.filter((p) => p.name === 'interactive-shell');
    const dataDir = (serverDataDir = await mkdtemp(join(tmpdir(), 'amber-bench-')));
    const queue = await FileQueue.open({ dir: join(dataDir, 'journal') });
    const metrics =
      all || variant.startsWith('A3')
        ? {
            registry: new IntakeMetrics().registry,
            signals: noopMetric,
            policyMatches: noopMetric,
            capturesQueued: noopMetric,
            duplicates: noopMetric,
            intakeSeconds: noopMetric,
            countSignal: noop,
            countMatch: noop,
            countQueued: noop,
            countDuplicate: noop,
            observeIntake: noop,
          }
        : new IntakeMetrics({ processMetrics: true });
    app = await buildApp({
      log: all || variant.startsWith('A1') ? noopLogger : createLogger('warn', devNull),
      queue,
      policies,
      auth: all || variant.startsWith('A2') ? noAuthenticator : tokenAuthenticator([TOKEN], { acceptClientCerts: false }),
      metrics,
      bodyLimit: DEFAULT_SETTINGS.bodyLimit,
      labelKeys: DEFAULT_SETTINGS.alertmanager.labels,
      version: 'bench',
    });
    cleanup = async () => {
      await queue.close();
      await rm(dataDir, { recursive: true, force: true });
    };
  }
  if (process.env.BENCH_MODE === 'inject') {
    // No socket, no load generator: fastify's inject drives the same pipeline in-process, 50
    // requests in flight at a time, so the CPU time is the app's own user-space work.
    const opts = {
      method: 'POST',
      url: ROUTE,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      payload: alertBody(FIXED_POD_SUFFIX),
    };
    const batch = async () => {
      const answers = await Promise.all(Array.from({ length: 50 }, () => app.inject(opts)));
      const bad = answers.find((r) => r.statusCode !== 200);
      if (bad) throw new Error(`${variant}: ${bad.statusCode} ${bad.body}`);
    };
    await app.inject(opts); // amber: the first one queues the capture (202); the rest are duplicates
    const warm = Date.now() + 1000 * Number(process.env.BENCH_WARMUP ?? 1);
    while (Date.now() < warm) await batch();
    const c0 = process.cpuUsage();
    const t0 = Date.now();
    let n = 0;
    while (Date.now() - t0 < 1000 * Number(process.env.BENCH_DURATION ?? 5)) {
      await batch();
      n += 50;
    }
    const c = process.cpuUsage(c0);
    process.send({ type: 'inject', cpu: (c.user + c.system) / n, rps: n / ((Date.now() - t0) / 1000) });
    await app.close();
    await cleanup();
    process.exit(0);
  }
  await app.listen({ host: HOST, port: 0 });
  process.send({ type: 'ready', url: `http://${HOST}:${app.server.address().port}` });
  const stop = async () => {
    await app.close();
    await cleanup();
    process.exit(0);
  };
  process.on('message', (m) => {
    if (m.type === 'cpu') {
      const c = process.cpuUsage();
      process.send({ type: 'cpu', micros: c.user + c.system, sys: c.system });
    } else if (m.type === 'stop') void stop();
  });
  process.on('disconnect', () => void stop());
}

function once(proc, type) {
  return new Promise((res, rej) => {
    const onMsg = (m) => {
      if (m.type !== type) return;
      proc.off('message', onMsg);
      proc.off('exit', onExit);
      res(m);
    };
    const onExit = (code) => rej(new Error(`server exited (${code}) before '${type}'`));
    proc.on('message', onMsg);
    proc.once('exit', onExit);
  });
}

async function main() {
  const { default: autocannon } = await import('autocannon');
  const env = (n, d) => (process.env[n] ? Number(process.env[n]) : d);
  const duration = env('BENCH_DURATION', 5);
  const warmup = env('BENCH_WARMUP', 1);
  const connections = env('BENCH_CONNECTIONS', 50);
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const variants = [...LADDER, ...AMBER].filter((v) => !only || only.some((o) => v.startsWith(o)));
  const body = alertBody(FIXED_POD_SUFFIX);
  const run = (url, seconds) =>
    autocannon({
      url: `${url}${ROUTE}`,
      method: 'POST',
      connections,
      duration: seconds,
      timeout: 10,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      requests: [{ setupRequest: (req) => ({ ...req, body: alertBody(FIXED_POD_SUFFIX) }) }],
    });
  const rounds = env('BENCH_ROUNDS', 3);
  const inject = process.env.BENCH_MODE === 'inject';
  console.log(
    `# intake breakdown: duplicate path, ${body.length}-byte event, ` +
      (inject ? 'in-process app.inject (50 in flight, no sockets)' : `${connections} connections over loopback`) +
      `, ${duration} s after ${warmup} s warm-up, ${rounds} round(s), variants interleaved`,
  );
  let failed = false;
  const results = new Map(variants.map((v) => [v, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      const proc = fork(SELF, ['--serve', variant], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_NO_WARNINGS: '1' } });
      if (inject) {
        const m = await once(proc, 'inject');
        await new Promise((res) => (proc.exitCode !== null ? res() : proc.once('exit', res)));
        results.get(variant).push({ rps: m.rps, p99: NaN, cpu: m.cpu, sys: NaN });
        console.error(`  round ${round} ${variant.padEnd(26)} inject: ${Math.round(m.rps)} req/s, ${m.cpu.toFixed(1)} µs CPU/req`);
        continue;
      }
      try {
        const { url } = await once(proc, 'ready');
        await run(url, warmup);
        proc.send({ type: 'cpu' });
        const m0 = await once(proc, 'cpu');
        const c0 = m0.micros;
        const r = await run(url, duration);
        proc.send({ type: 'cpu' });
        const m1 = await once(proc, 'cpu');
        const c1 = m1.micros;
        const answered = Object.values(r.statusCodeStats ?? {}).reduce((a, { count }) => a + Number(count), 0);
        if (r.non2xx > 0 || r.errors > 0 || answered === 0) {
          failed = true;
          console.error(`!! ${variant}: ${JSON.stringify(r.statusCodeStats)}, ${r.errors} errors`);
        }
        const x = { rps: answered / r.duration, p99: r.latency.p99, cpu: (c1 - c0) / answered, sys: (m1.sys - m0.sys) / answered };
        results.get(variant).push(x);
        console.error(
          `  round ${round} ${variant.padEnd(26)} ${Math.round(x.rps)} req/s, p99 ${x.p99} ms, ${Math.round(x.cpu)} µs CPU/req (${Math.round(x.sys)} system)`,
        );
      } finally {
        proc.send({ type: 'stop' });
        await new Promise((res) => (proc.exitCode !== null ? res() : proc.once('exit', res)));
      }
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  if (inject) {
    const base = Math.min(...(results.get(variants[0]) ?? []).map((x) => x.cpu));
    console.log(`\n| variant | inject req/s (median) | CPU µs/req (median) | (min) | min − ${variants[0]} (min) |`);
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const [variant, xs] of results) {
      const min = Math.min(...xs.map((x) => x.cpu));
      console.log(
        `| ${variant} | ${Math.round(median(xs.map((x) => x.rps)))} | ${median(xs.map((x) => x.cpu)).toFixed(1)} | ${min.toFixed(1)} | ${(min - base).toFixed(1)} |`,
      );
    }
    return failed ? 1 : 0;
  }
  console.log('\n| variant | req/s (median) | p99 ms (median) | server CPU µs/req (median) | (min) | of which system (median) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [variant, xs] of results) {
    console.log(
      `| ${variant} | ${Math.round(median(xs.map((x) => x.rps)))} | ${median(xs.map((x) => x.p99))} | ${Math.round(median(xs.map((x) => x.cpu)))} | ${Math.round(Math.min(...xs.map((x) => x.cpu)))} | ${Math.round(median(xs.map((x) => x.sys)))} |`,
    );
  }
  return failed ? 1 : 0;
}

if (process.argv[2] === '--serve') {
  serve(process.argv[3]).catch((e) => {
    console.error(e);
    if (serverDataDir) rmSync(serverDataDir, { recursive: true, force: true });
    process.exit(1);
  });
} else if (resolve(process.argv[1] ?? '') === SELF) {
  const watchdog = setTimeout(() => {
    console.error('watchdog: 10 minutes');
    process.exit(2);
  }, 10 * 60_000);
  watchdog.unref();
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

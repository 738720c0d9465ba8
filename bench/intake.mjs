#!/usr/bin/env node
// bench/intake: throughput of amber's Falco intake against a bare fastify JSON route, and a
// duplicate-alert storm. Not a test: run `npm run bench:intake` (builds first; imports ../dist).
//
// Layout: this process is the load generator (autocannon) and the orchestrator. Every server
// under test runs in a fresh child process (this same file with `--serve KIND`), so the server's
// RSS is its own and the load generator's work is not on the server's event loop. On a 2-core
// machine the two processes still share the CPUs: the numbers are relative, not absolute.
//
// Environment knobs (defaults in brackets):
//   BENCH_CONNECTIONS [50]  BENCH_DURATION s [10]  BENCH_WARMUP s [2]
//   BENCH_ROUNDS [3]  the three throughput runs are repeated, interleaved; medians are reported
//   BENCH_LOG_LEVEL [warn]  amber's log level (at info, fastify logs two lines per request)
//   BENCH_STORM requests [100000]  BENCH_STORM_CONNECTIONS [50]
//   BENCH_ONLY  comma list of bare,bare-durable,amber-duplicate,amber-unique,storm (default: all)
//   BENCH_PIN=1  server children on CPU 1, this process (the load generator) on CPU 0 (taskset):
//                each side gets a core of its own instead of sharing both with the other
//   BENCH_CPU_PROF DIR  write a V8 CPU profile of every server child into DIR (for analysis)
//   BENCH_JSON FILE     also write the raw results as JSON
import { fork, spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
/** In a server child: its temp data dir, removed even when start-up fails. */
let serverDataDir;
const DIST = new URL('../dist/', import.meta.url);
export const HOST = '127.0.0.1';
export const ROUTE = '/v1/alerts/falco';
export const TOKEN = 'bench-token-5f1c0e9a7d3b4c2e8a6f';
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// The alert: Falco's "Terminal shell in container" as http_output sends it: the event of
// test/fixtures/falco/terminal-shell.json (1.5 KiB pretty-printed), compact as Falco sends it,
// 1,330 bytes. `@@POD@@` is replaced per request by a 5-character suffix, so every body has the
// same length whether or not it varies.
const POD_PREFIX = 'checkout-7d9f8b6c5-';
export const FIXED_POD_SUFFIX = 'x2x9q';
const ALERT_TEMPLATE = JSON.stringify(
  {
    hostname: 'ip-10-0-42-17.eu-west-1.compute.internal',
    output:
      '09:26:41.512873014: Notice A shell was spawned in a container with an attached terminal | evt_type=execve user=root user_uid=0 user_loginuid=-1 process=bash proc_exepath=/usr/bin/bash parent=runc command=bash terminal=34816 exe_flags=EXE_WRITABLE|EXE_LOWER_LAYER container_id=3f9c2a7b1d04 container_name=checkout container_image_repository=ghcr.io/acme-shop/checkout container_image_tag=1.14.2 k8s_pod_name=' +
      POD_PREFIX +
      '@@POD@@ k8s_ns_name=shop',
    output_fields: {
      'container.full_id': '3f9c2a7b1d04dc5e3de2ab426607d3e1f8c6d170c21f3aab0f05ba526f91e88c',
      'container.id': '3f9c2a7b1d04',
      'container.image.repository': 'ghcr.io/acme-shop/checkout',
      'container.image.tag': '1.14.2',
      'container.name': 'checkout',
      'evt.arg.flags': 'EXE_WRITABLE|EXE_LOWER_LAYER',
      'evt.time': 1741944401512873014n, // replaced below: Falco's nanosecond integer, beyond 2^53
      'evt.type': 'execve',
      'k8s.ns.name': 'shop',
      'k8s.pod.name': `${POD_PREFIX}@@POD@@`,
      'k8s.pod.uid': '5b0f7c1e-9a64-4d2b-8e3f-2c71a9d4b6e0',
      'proc.cmdline': 'bash',
      'proc.exepath': '/usr/bin/bash',
      'proc.name': 'bash',
      'proc.pname': 'runc',
      'proc.tty': 34816,
      'user.loginuid': -1,
      'user.name': 'root',
      'user.uid': 0,
    },
    priority: 'Notice',
    rule: 'Terminal shell in container',
    source: 'syscall',
    tags: ['T1059', 'container', 'maturity_stable', 'mitre_execution', 'shell'],
    time: '2025-03-14T09:26:41.512873014Z',
  },
  (_k, v) => (typeof v === 'bigint' ? `@@BIG${v}@@` : v),
).replace(/"@@BIG(\d+)@@"/g, '$1');
const ALERT_PARTS = ALERT_TEMPLATE.split('@@POD@@');

export function alertBody(suffix) {
  return ALERT_PARTS.join(suffix);
}

// ---------------------------------------------------------------------------------------------
// 50 CapturePolicy documents. Exactly one (`interactive-shell`) matches the benchmark alert, so
// the storm must end with exactly one capture. Six more are near misses that pass the rule test
// and fail a later condition (priority, namespace, tags, fields), so they cost a full evaluation;
// the rest fail on the rule name (exact names and /regex/ rules), as most policies would.
export function generatePolicyYaml() {
  const docs = [];
  const add = (name, match, capture = {}) => docs.push({ name, match, capture });
  const exclude = { exclude: ['kube-system', 'falco', 'monitoring'] };
  const notFalcoImage = {
    key: 'container.image.repository',
    op: 'notIn',
    values: ['falcosecurity/falco', 'docker.io/falcosecurity/falco', 'public.ecr.aws/falcosecurity/falco'],
  };

  // The one that matches.
  add(
    'interactive-shell',
    {
      sources: ['falco', 'alertmanager'],
      rules: ['Terminal shell in container'],
      priority: '>=Notice',
      namespaces: { exclude: ['kube-system'] },
      fields: [notFalcoImage, { ...notFalcoImage, key: 'container_image_repository' }],
    },
    { cooldown: '30m' },
  );

  // Near misses: the rule matches, a later condition does not.
  add('shell-in-payments', { sources: ['falco'], rules: ['Terminal shell in container'], namespaces: { include: ['payments', 'billing'] } });
  add('shell-critical-only', { sources: ['falco'], rules: ['/shell/i'], priority: '>=Critical', namespaces: exclude });
  add('shell-as-db-user', {
    sources: ['falco'],
    rules: ['/^Terminal shell/'],
    priority: '>=Notice',
    fields: [{ key: 'user.name', op: 'in', values: ['postgres', 'mysql', 'mongodb'] }],
  });
  add('shell-persistence', { sources: ['falco'], rules: ['Terminal shell in container'], tags: { all: ['shell', 'mitre_persistence'] } });
  add('shell-from-registry-internal', {
    sources: ['falco'],
    rules: ['/(Terminal|Run) shell/'],
    namespaces: exclude,
    fields: [{ key: 'container.image.repository', op: 'prefix', values: ['registry.internal/', 'harbor.corp/'] }],
  });
  add('shell-prod-namespaces', {
    sources: ['falco', 'alertmanager'],
    rules: ['Terminal shell in container'],
    priority: '>=Notice',
    fields: [{ key: 'k8s.ns.name', op: 'regex', values: ['^prod-'] }],
  });

  // The rest: other Falco rules (falcosecurity/rules), exact and /regex/, mixed conditions.
  const exact = [
    ['read-sensitive-file', 'Read sensitive file untrusted', '>=Warning'],
    ['read-sensitive-after-start', 'Read sensitive file trusted after startup', '>=Warning'],
    ['write-below-etc', 'Write below etc', '>=Error'],
    ['write-below-root', 'Write below root', '>=Error'],
    ['write-below-binary-dir', 'Write below binary dir', '>=Error'],
    ['privileged-container', 'Launch Privileged Container', '>=Informational'],
    ['sensitive-mount', 'Launch Sensitive Mount Container', '>=Informational'],
    ['symlink-sensitive', 'Create Symlink Over Sensitive Files', '>=Warning'],
    ['hardlink-sensitive', 'Create Hardlink Over Sensitive Files', '>=Warning'],
    ['clear-logs', 'Clear Log Activities', '>=Warning'],
    ['remove-bulk-data', 'Remove Bulk Data from Disk', '>=Warning'],
    ['shell-history-deleted', 'Delete or rename shell history', '>=Warning'],
    ['setuid-bit', 'Set Setuid or Setgid bit', '>=Notice'],
    ['cron-jobs', 'Schedule Cron Jobs', '>=Notice'],
    ['packet-socket', 'Packet socket created in container', '>=Notice'],
    ['k8s-api-from-container', 'Contact K8S API Server From Container', '>=Notice'],
    ['netcat-rce', 'Netcat Remote Code Execution in Container', '>=Warning'],
    ['suspicious-network-tool', 'Launch Suspicious Network Tool in Container', '>=Notice'],
    ['c2-servers', 'Outbound Connection to C2 Servers', '>=Warning'],
    ['modify-binary-dirs', 'Modify binary dirs', '>=Error'],
    ['mkdir-binary-dirs', 'Mkdir binary dirs', '>=Error'],
    ['change-thread-namespace', 'Change thread namespace', '>=Notice'],
    ['package-management', 'Launch Package Management Process in Container', '>=Error'],
    ['run-shell-untrusted', 'Run shell untrusted', '>=Notice'],
    ['system-user-interactive', 'System user interactive', '>=Informational'],
    ['non-sudo-setuid', 'Non sudo setuid', '>=Notice'],
    ['user-mgmt-binaries', 'User mgmt binaries', '>=Notice'],
    ['files-below-dev', 'Create files below dev', '>=Error'],
    ['kernel-module-injection', 'Linux Kernel Module Injection Detected', '>=Warning'],
    ['ptrace-attached', 'PTRACE attached to process', '>=Warning'],
    ['ptrace-anti-debug', 'PTRACE anti-debug attempt', '>=Notice'],
    ['directory-traversal', 'Directory traversal monitored file read', '>=Warning'],
    ['release-agent-escape', 'Detect release_agent File Container Escapes', '>=Critical'],
    ['debugfs-privileged', 'Debugfs Launched in Privileged Container', '>=Warning'],
    ['drop-and-execute', 'Drop and execute new binary in container', '>=Critical'],
    ['memfd-execution', 'Fileless execution via memfd_create', '>=Critical'],
    ['reverse-shell', 'Redirect STDOUT/STDIN to Network Connection in Container', '>=Notice'],
    ['search-private-keys', 'Search Private Keys or Passwords', '>=Warning'],
  ];
  const fieldMix = [
    undefined,
    [{ key: 'container.image.repository', op: 'prefix', values: ['ghcr.io/', 'docker.io/', 'quay.io/'] }],
    [{ key: 'proc.pname', op: 'notIn', values: ['containerd-shim', 'kubelet'] }],
    [{ key: 'user.uid', op: 'equals', values: [0] }],
    [{ key: 'k8s.pod.name', op: 'regex', values: ['^(?!debug-)'] }],
    [{ key: 'container.id', op: 'exists' }],
  ];
  exact.forEach(([name, rule, priority], i) => {
    const fields = fieldMix[i % fieldMix.length];
    add(
      name,
      {
        sources: i % 5 === 4 ? ['falco'] : ['falco', 'alertmanager'],
        rules: [rule],
        priority,
        ...(i % 3 === 0 ? { namespaces: exclude } : {}),
        ...(i % 7 === 3 ? { tags: { any: ['mitre_persistence', 'mitre_privilege_escalation', 'mitre_defense_evasion'] } } : {}),
        ...(fields ? { fields } : {}),
      },
      { cooldown: ['15m', '30m', '1h'][i % 3], containers: i % 4 === 0 ? 'all' : 'target' },
    );
  });
  const regex = [
    ['crypto-miners', ['/miner|Stratum/i'], '>=Warning'],
    ['credential-access', ['/Credentials|Private Keys|Kubeconfig/'], '>=Warning'],
    ['cve-exploits', ['/CVE-\\d{4}-\\d+/'], '>=Error'],
    ['drift-detected', ['/^Container Drift Detected/'], '>=Error'],
    ['ssh-keys', ['/ssh.*(keys|authorized_keys)/i', 'Disallowed SSH Connection Non Standard Port'], '>=Notice'],
  ];
  regex.forEach(([name, rules, priority], i) => {
    add(name, {
      sources: ['falco', 'alertmanager'],
      rules,
      priority,
      namespaces: exclude,
      ...(i % 2 === 0 ? { fields: [{ key: 'container.name', op: 'exists' }] } : {}),
    });
  });
  if (docs.length !== 50) throw new Error(`expected 50 policies, generated ${docs.length}`);

  const lines = [];
  for (const { name, match, capture } of docs) {
    lines.push(
      '---',
      'apiVersion: forensics.amber.dev/v1alpha1',
      'kind: CapturePolicy',
      `metadata: { name: ${name} }`,
      'spec:',
      `  description: Benchmark policy ${name}.`,
      `  match: ${JSON.stringify(match)}`, // JSON is YAML (flow style)
      `  capture: ${JSON.stringify({ timeoutSeconds: 120, include: ['podSpec', 'logs'], ...capture })}`,
      '  evidence: { retentionDays: 365, lock: compliance }',
    );
  }
  return `${lines.join('\n')}\n`;
}

// =============================================================================================
// Server child: `node bench/intake.mjs --serve bare|amber`
// =============================================================================================
async function serve(kind) {
  const send = (msg) => process.send?.(msg);
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    const rss = process.memoryUsage().rss;
    if (rss > peakRss) peakRss = rss;
  }, 50);
  const memory = () => {
    const rss = process.memoryUsage().rss;
    if (rss > peakRss) peakRss = rss;
    const cpu = process.cpuUsage();
    return {
      rss,
      peakRss,
      maxRss: process.resourceUsage().maxRSS * 1024,
      heapUsed: process.memoryUsage().heapUsed,
      cpuMicros: cpu.user + cpu.system,
      cpuSystemMicros: cpu.system,
      fsync: { ...fsync },
    };
  };
  // Count and time the journal's fsyncs (FileHandle.datasync/sync): a timing wrapper only, so
  // the report can say how many captures each group commit carried and what an fsync costs here.
  const fsync = { calls: 0, totalMs: 0, maxMs: 0 };
  if (kind !== 'bare') {
    const { open: openFile } = await import('node:fs/promises');
    const probe = await openFile(SELF, 'r');
    const proto = Object.getPrototypeOf(probe);
    await probe.close();
    for (const name of ['datasync', 'sync']) {
      const original = proto[name];
      proto[name] = async function timed(...args) {
        const t0 = performance.now();
        try {
          return await original.apply(this, args);
        } finally {
          const ms = performance.now() - t0;
          fsync.calls++;
          fsync.totalMs += ms;
          if (ms > fsync.maxMs) fsync.maxMs = ms;
        }
      };
    }
  }

  let close;
  let dataDir;
  if (kind === 'bare') {
    const { default: Fastify } = await import('fastify');
    const app = Fastify();
    app.post(ROUTE, async () => ({}));
    await app.listen({ host: HOST, port: 0 });
    send({ type: 'ready', url: `http://${HOST}:${app.server.address().port}`, policies: 0 });
    close = () => app.close();
  } else if (kind === 'bare-durable') {
    // The least an intake whose 202 means "on disk" can do: the bare route, plus each body
    // appended to a file as a JSON line and fdatasync'd before the answer, the appends that arrive
    // during a write going out together with the next (group commit). No amber code.
    const { default: Fastify } = await import('fastify');
    const { open: openFile } = await import('node:fs/promises');
    dataDir = serverDataDir = await mkdtemp(join(tmpdir(), 'amber-bench-'));
    const fh = await openFile(join(dataDir, 'bodies.jsonl'), 'a');
    let pending = [];
    let flushing = false;
    let size = 0;
    const flush = async () => {
      flushing = true;
      while (pending.length > 0) {
        const batch = pending;
        pending = [];
        const data = Buffer.from(batch.map((b) => b.line).join(''));
        try {
          await fh.write(data, 0, data.length, size);
          await fh.datasync();
          size += data.length;
          for (const b of batch) b.reply.code(202).send({});
        } catch (e) {
          for (const b of batch) b.reply.code(503).send({ error: String(e) });
        }
      }
      flushing = false;
    };
    const app = Fastify();
    app.post(ROUTE, (request, reply) => {
      pending.push({ line: `${JSON.stringify(request.body)}\n`, reply });
      if (!flushing) void flush();
      return reply;
    });
    await app.listen({ host: HOST, port: 0 });
    send({ type: 'ready', url: `http://${HOST}:${app.server.address().port}`, policies: 0, dataDir });
    close = async () => {
      await app.close();
      await fh.close();
    };
  } else {
    const [{ startServer }, { FileQueue }, { parsePolicies }, { tokenAuthenticator }, { IntakeMetrics }, { createLogger }, { DEFAULT_SETTINGS }] =
      await Promise.all([
        import(new URL('http/start-server.js', DIST)),
        import(new URL('queue/file-queue.js', DIST)),
        import(new URL('policy/load-policies.js', DIST)),
        import(new URL('http/token-auth.js', DIST)),
        import(new URL('http/intake-metrics.js', DIST)),
        import(new URL('cli/create-logger.js', DIST)),
        import(new URL('config/settings.js', DIST)),
      ]);
    dataDir = serverDataDir = await mkdtemp(join(tmpdir(), 'amber-bench-'));
    const devNull = new Writable({ write: (_chunk, _enc, done) => done() });
    const log = createLogger(process.env.BENCH_LOG_LEVEL || 'warn', devNull);
    const policies = parsePolicies([{ file: 'bench-policies.yaml', text: generatePolicyYaml() }]);
    const queue = await FileQueue.open({ dir: join(dataDir, 'journal') });
    const server = await startServer(
      {
        log,
        queue,
        policies,
        auth: tokenAuthenticator([TOKEN], { acceptClientCerts: false }),
        metrics: new IntakeMetrics({ processMetrics: true }), // as `amber serve` builds it
        bodyLimit: DEFAULT_SETTINGS.bodyLimit,
        labelKeys: DEFAULT_SETTINGS.alertmanager.labels,
        version: 'bench',
      },
      { listen: `${HOST}:0` },
    );
    send({ type: 'ready', url: server.url, policies: policies.length, dataDir });
    close = async () => {
      await server.close();
      await queue.close();
    };
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(sampler);
    const mem = memory();
    try {
      await close();
    } finally {
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    }
    send({ type: 'stopped', memory: mem });
    process.disconnect?.();
    process.exit(0); // lets --cpu-prof write its profile
  };
  process.on('message', (msg) => {
    if (msg?.type === 'memory') send({ type: 'memory', memory: memory() });
    else if (msg?.type === 'stop') void stop();
  });
  process.on('disconnect', () => void stop()); // the orchestrator died: clean up and go
}

// =============================================================================================
// Orchestrator and load generator
// =============================================================================================
const intEnv = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got '${v}'`);
  return n;
};

const children = new Set();
const PIN = process.env.BENCH_PIN === '1';
const leftoverDirs = new Set();

class Child {
  constructor(kind) {
    this.kind = kind;
    this.inbox = [];
    this.waiters = [];
    const prof = process.env.BENCH_CPU_PROF;
    const execArgv = prof ? ['--cpu-prof', '--cpu-prof-dir', prof, '--cpu-prof-name', `${kind}-${Date.now()}.cpuprofile`] : [];
    this.proc = PIN
      ? spawn('taskset', ['-c', '1', process.execPath, ...execArgv, SELF, '--serve', kind], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      : fork(SELF, ['--serve', kind], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    children.add(this.proc);
    this.proc.on('message', (msg) => {
      const i = this.waiters.findIndex((w) => w.type === msg.type);
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(msg);
      else this.inbox.push(msg);
    });
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => {
        children.delete(this.proc);
        for (const w of this.waiters) w.reject(new Error(`${kind} server exited (${code ?? signal}) while waiting for '${w.type}'`));
        resolve({ code, signal });
      }),
    );
  }

  receive(type, timeoutMs = 30_000) {
    const i = this.inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.kind} server: no '${type}' within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ type, resolve: (m) => (clearTimeout(timer), resolve(m)), reject: (e) => (clearTimeout(timer), reject(e)) });
    });
  }

  async start() {
    const ready = await this.receive('ready');
    this.url = ready.url;
    if (ready.dataDir) leftoverDirs.add((this.dataDir = ready.dataDir));
    return ready;
  }

  async memory() {
    this.proc.send({ type: 'memory' });
    return (await this.receive('memory')).memory;
  }

  async stop() {
    this.proc.send({ type: 'stop' });
    const { memory } = await this.receive('stopped', 60_000);
    await this.exited;
    if (this.dataDir) {
      await rm(this.dataDir, { recursive: true, force: true }); // the child does too; belt and braces
      leftoverDirs.delete(this.dataDir);
    }
    return memory;
  }
}

let autocannon;
// One counter for the whole run, so the measured requests never repeat a warm-up pod name.
let podCounter = 0;

/** One autocannon run. `vary`: a new pod name per request (a new capture each time). */
function load(url, { connections, duration, amount, vary }) {
  const suffixes = vary ? () => (podCounter++ % 36 ** 5).toString(36).padStart(5, '0') : () => FIXED_POD_SUFFIX;
  return autocannon({
    url: `${url}${ROUTE}`,
    method: 'POST',
    connections,
    pipelining: 1,
    ...(amount ? { amount } : { duration }),
    timeout: 10,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    // The same per-request work for every run: a fresh body is built whether or not it varies.
    requests: [{ setupRequest: (req) => ({ ...req, body: alertBody(suffixes()) }) }],
  });
}

function summarise(result) {
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, Number(count)]));
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
  return {
    requests: answered,
    seconds: result.duration,
    rps: answered / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    statuses,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

async function amberCounters(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const sum = (name) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
      .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
  return { queued: sum('amber_captures_queued_total'), duplicates: sum('amber_capture_duplicates_total') };
}

async function listCaptures(url) {
  const res = await fetch(`${url}/v1/captures?limit=1000`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (res.status !== 200) throw new Error(`GET /v1/captures answered ${res.status}: ${await res.text()}`);
  return (await res.json()).captures;
}

const fmt = (x, d = 0) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const mib = (bytes) => `${fmt(bytes / MiB, 1)} MiB`;

async function throughputRun(name, kind, vary, cfg) {
  const child = new Child(kind);
  try {
    const ready = await child.start();
    process.stdout.write(`  ${name.padEnd(16)} warm-up ${cfg.warmup} s … `);
    await load(child.url, { connections: cfg.connections, duration: cfg.warmup, vary });
    const before = kind === 'amber' ? await amberCounters(child.url) : undefined;
    process.stdout.write(`measuring ${cfg.duration} s … `);
    const m0 = await child.memory();
    const serverCpu0 = m0.cpuMicros;
    const ownCpu0 = process.cpuUsage();
    const result = summarise(await load(child.url, { connections: cfg.connections, duration: cfg.duration, vary }));
    const ownCpu = process.cpuUsage(ownCpu0);
    const memory = await child.memory();
    const after = kind === 'amber' ? await amberCounters(child.url) : undefined;
    // CPU time per answered request: less sensitive than req/s to how the two processes share the cores.
    const serverCpuPerRequest = (memory.cpuMicros - serverCpu0) / result.requests;
    const serverCores = (memory.cpuMicros - serverCpu0) / 1e6 / result.seconds;
    const loadgenCores = (ownCpu.user + ownCpu.system) / 1e6 / result.seconds;
    const serverSystemPerRequest = (memory.cpuSystemMicros - m0.cpuSystemMicros) / result.requests;
    const fsyncs = memory.fsync.calls - m0.fsync.calls;
    const journal = fsyncs > 0 ? { fsyncs, fsyncMeanMs: (memory.fsync.totalMs - m0.fsync.totalMs) / fsyncs, fsyncMaxMs: memory.fsync.maxMs } : undefined;
    const queued = before && after ? after.queued - before.queued : undefined;
    console.log(
      `${fmt(result.rps)} req/s, p99 ${result.p99} ms, server ${fmt(serverCpuPerRequest)} µs CPU/request ` +
        `(${fmt(serverSystemPerRequest)} system; ${fmt(serverCores, 2)} cores busy; load generator ${fmt(loadgenCores, 2)})` +
        (journal
          ? `; ${fmt(journal.fsyncs)} fsyncs, ${fmt((queued ?? result.requests) / journal.fsyncs, 1)} ${queued === undefined ? 'bodies' : 'captures'} each, mean ${fmt(journal.fsyncMeanMs, 2)} ms`
          : ''),
    );
    return {
      name,
      kind,
      vary,
      policies: ready.policies,
      ...result,
      memory,
      serverCpuPerRequest,
      serverSystemPerRequest,
      serverCores,
      loadgenCores,
      journal,
      ...(before && after ? { queued, duplicates: after.duplicates - before.duplicates } : {}),
    };
  } finally {
    await child.stop().catch((e) => console.error(`  (stopping ${name}: ${e.message})`));
  }
}

async function stormRun(cfg) {
  const child = new Child('amber');
  try {
    await child.start();
    const idle = await child.memory();
    console.log(`  storm: ${fmt(cfg.storm)} identical alerts, ${cfg.stormConnections} connections (server RSS at start ${mib(idle.rss)}) …`);
    const t0 = process.hrtime.bigint();
    const raw = await load(child.url, { connections: cfg.stormConnections, amount: cfg.storm, vary: false });
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    const result = summarise(raw);
    const memory = await child.memory();
    const captures = await listCaptures(child.url);
    const counters = await amberCounters(child.url);
    return { ...result, elapsed, captures: captures.length, captureIds: captures.map((c) => c.id), ...counters, memory, idleRss: idle.rss };
  } finally {
    await child.stop().catch((e) => console.error(`  (stopping storm server: ${e.message})`));
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  ({ default: autocannon } = await import('autocannon'));
  const cfg = {
    connections: intEnv('BENCH_CONNECTIONS', 50),
    duration: intEnv('BENCH_DURATION', 10),
    warmup: intEnv('BENCH_WARMUP', 2),
    rounds: intEnv('BENCH_ROUNDS', 3),
    storm: intEnv('BENCH_STORM', 100_000),
    stormConnections: intEnv('BENCH_STORM_CONNECTIONS', 50),
  };
  const only = new Set((process.env.BENCH_ONLY ?? 'bare,bare-durable,amber-duplicate,amber-unique,storm').split(',').map((s) => s.trim()));
  const body = alertBody(FIXED_POD_SUFFIX);
  JSON.parse(body); // the template is valid JSON
  const cpus = os.cpus();
  if (PIN) {
    const pinned = spawnSync('taskset', ['-p', '-c', '0', String(process.pid)], { encoding: 'utf8' });
    if (pinned.status !== 0) throw new Error(`BENCH_PIN: taskset failed: ${pinned.stderr || pinned.error?.message}`);
  }
  console.log('# amber bench/intake');
  console.log(`node ${process.version}, ${cpus.length} × ${cpus[0]?.model ?? '?'}, ${os.platform()} ${os.release()}, ${mib(os.totalmem())} RAM`);
  console.log(`body ${body.length} bytes, ${cfg.connections} connections, warm-up ${cfg.warmup} s, measure ${cfg.duration} s, ${cfg.rounds} round(s)`);
  console.log(
    `amber: 50 policies (1 matches the alert), token auth, file journal in a temp dir, log level ${process.env.BENCH_LOG_LEVEL || 'warn'} to a null sink`,
  );
  console.log(
    PIN
      ? 'load generator: autocannon in this process, pinned to CPU 0; each server in its own child process, pinned to CPU 1'
      : `load generator: autocannon in this process; each server in its own child process (both share the ${cpus.length} cores)`,
  );
  const loadavg = () =>
    os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  console.log(`load average before: ${loadavg()} (anything else busy on the machine skews every figure)\n`);

  let failed = false;
  const runs = [];
  const variants = [
    ['bare', 'bare fastify', 'bare', true],
    ['bare-durable', 'bare + fsync', 'bare-durable', true],
    ['amber-duplicate', 'amber duplicate', 'amber', false],
    ['amber-unique', 'amber unique', 'amber', true],
  ].filter(([key]) => only.has(key));
  if (variants.length > 0) console.log('## Throughput (POST /v1/alerts/falco)');
  for (let round = 1; round <= cfg.rounds; round++) {
    if (cfg.rounds > 1) console.log(` round ${round}/${cfg.rounds}`);
    for (const [key, name, kind, vary] of variants) {
      const r = await throughputRun(name, kind, vary, cfg);
      runs.push({ key, round, ...r });
      const expected = key === 'bare' ? '200' : key === 'amber-unique' || key === 'bare-durable' ? '202' : '200';
      const unexpected = Object.entries(r.statuses).filter(([code]) => code !== expected && !(key === 'amber-duplicate' && code === '202'));
      if (r.errors > 0 || unexpected.length > 0) {
        failed = true;
        console.error(`  !! ${name}: unexpected answers ${JSON.stringify(r.statuses)}, ${r.errors} errors: the figures are not valid`);
      }
    }
  }

  const byKey = (key) => runs.filter((r) => r.key === key);
  const agg = (key) => {
    const rs = byKey(key);
    if (rs.length === 0) return undefined;
    return {
      key,
      name: rs[0].name,
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      cpu: median(rs.map((r) => r.serverCpuPerRequest)),
      cores: median(rs.map((r) => r.serverCores)),
      peak: Math.max(...rs.map((r) => r.memory.maxRss)),
      rs,
    };
  };
  const bare = agg('bare');
  const durableFloor = agg('bare-durable');
  const rows = ['bare', 'bare-durable', 'amber-duplicate', 'amber-unique'].map(agg).filter(Boolean);

  let storm;
  if (only.has('storm')) {
    console.log('\n## Storm');
    storm = await stormRun(cfg);
    const ok = storm.captures === 1 && storm.queued === 1 && storm.errors === 0 && storm.requests === cfg.storm;
    console.log(
      `  ${fmt(storm.requests)} answered (${JSON.stringify(storm.statuses)}) in ${fmt(storm.elapsed, 1)} s (${fmt(storm.requests / storm.elapsed)} req/s), ` +
        `p99 ${storm.p99} ms; captures: ${storm.captures} (queued ${storm.queued}, duplicates ${storm.duplicates}); ` +
        `server peak RSS ${mib(storm.memory.peakRss)} sampled / ${mib(storm.memory.maxRss)} kernel max`,
    );
    if (!ok) {
      failed = true;
      console.error(
        `  !! storm: expected exactly one capture and ${cfg.storm} answers; got ${storm.captures} capture(s), ${storm.requests} answers, ${storm.errors} errors`,
      );
    }
  }

  // ---- report --------------------------------------------------------------------------------
  console.log('\n## Results (markdown)\n');
  if (rows.length > 0) {
    console.log(
      `Throughput: ${cfg.connections} connections, ${cfg.duration} s after ${cfg.warmup} s warm-up, ${body.length}-byte Falco event` +
        (cfg.rounds > 1 ? `, median of ${cfg.rounds} rounds` : '') +
        '.\n',
    );
    console.log(
      '| run | req/s | ratio to bare | p50 ms | p99 ms | server CPU µs/req | server cores busy | captures queued / duplicates (all rounds) | server peak RSS (max of rounds) |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows) {
      const ratio = bare && r.key !== 'bare' ? fmt(r.rps / bare.rps, 2) : '—';
      const counts = r.rs[0].kind === 'amber' ? `${fmt(r.rs.reduce((a, x) => a + x.queued, 0))} / ${fmt(r.rs.reduce((a, x) => a + x.duplicates, 0))}` : '—';
      console.log(`| ${r.name} | ${fmt(r.rps)} | ${ratio} | ${r.p50} | ${r.p99} | ${fmt(r.cpu)} | ${fmt(r.cores, 2)} | ${counts} | ${mib(r.peak)} |`);
    }
    if (bare) {
      for (const r of rows.filter((x) => x.key !== 'bare')) {
        const ratio = r.rps / bare.rps;
        if (r.key === 'bare-durable') {
          console.log(
            `\n${r.name} / bare: ${fmt(ratio, 2)} (no target: the bare route plus nothing but a durable write per request, group-committed: what fsync alone costs here)`,
          );
          continue;
        }
        if (r.key === 'amber-unique') {
          // Every request here waits for an fsync, which the bare route never does: this run is
          // read against bare + fsync, the same wait with nothing else (docs/benchmarks-history.md).
          const floor = durableFloor
            ? `; bare + fsync reaches ${fmt(durableFloor.rps / bare.rps, 2)}, amber unique is ${fmt(r.rps / durableFloor.rps, 2)} of it`
            : '';
          console.log(`\n${r.name} / bare: ${fmt(ratio, 2)} (each request a new capture, fsynced before its 202${floor})`);
          continue;
        }
        console.log(`\n${r.name} / bare: ${fmt(ratio, 2)} (target ≥ 0.70: ${ratio >= 0.7 ? 'met' : 'MISSED'})`);
      }
    }
  }
  if (storm) {
    console.log(`\nStorm: ${fmt(cfg.storm)} identical alerts (same container, same rule), ${cfg.stormConnections} connections.\n`);
    console.log('| requests | elapsed | req/s | p99 ms | answers | captures | server RSS at start | server peak RSS (50 ms samples) | kernel max RSS |');
    console.log('| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |');
    const answers = Object.entries(storm.statuses)
      .map(([c, n]) => `${fmt(n)}× ${c}`)
      .join(', ');
    console.log(
      `| ${fmt(storm.requests)} | ${fmt(storm.elapsed, 1)} s | ${fmt(storm.requests / storm.elapsed)} | ${storm.p99} | ${answers} | ${storm.captures} | ${mib(storm.idleRss)} | ${mib(storm.memory.peakRss)} | ${mib(storm.memory.maxRss)} |`,
    );
    console.log(
      `\nStorm RSS target ≤ 200 MiB: ${storm.memory.maxRss <= 200 * MiB ? 'met' : 'MISSED'}; exactly one capture: ${storm.captures === 1 ? 'yes' : 'NO'}`,
    );
  }
  console.log(`\nload average after: ${loadavg()}`);
  console.log(`load generator (this process) peak RSS: ${mib(process.resourceUsage().maxRSS * 1024)}`);

  if (process.env.BENCH_JSON) {
    await writeFile(process.env.BENCH_JSON, JSON.stringify({ cfg, node: process.version, cpus: cpus.length, runs, storm }, null, 2));
  }
  return failed ? 1 : 0;
}

async function cleanup() {
  for (const proc of children) proc.kill('SIGKILL');
  for (const dir of leftoverDirs) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
}

const runDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === SELF;
if (!runDirectly) {
  // Imported (bench/intake-breakdown.mjs uses the alert and policies): run nothing.
} else if (process.argv[2] === '--serve') {
  serve(process.argv[3]).catch((e) => {
    console.error(e);
    if (serverDataDir) rmSync(serverDataDir, { recursive: true, force: true });
    process.exit(1);
  });
} else {
  // Everything is bounded by time or count; this is only a guard against a hang.
  const watchdog = setTimeout(async () => {
    console.error('bench/intake: watchdog fired after 15 minutes; stopping');
    await cleanup();
    process.exit(2);
  }, 15 * 60_000);
  watchdog.unref();
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, async () => {
      await cleanup();
      process.exit(130);
    });
  }
  main().then(
    async (code) => {
      await cleanup();
      process.exit(code);
    },
    async (e) => {
      console.error(e);
      await cleanup();
      process.exit(1);
    },
  );
}

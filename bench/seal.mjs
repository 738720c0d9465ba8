// bench/seal: sealing throughput of amber's capture pipeline (archive → hash → file store → custody,
// manifest, signature) against `openssl dgst -sha256` of the same file, in the same run; and peak RSS.
// Usage: npm run build && node bench/seal.mjs [sizes in GiB, default "1 4"]
// The triage report after the seal is not timed (BENCH_REPORT=1 includes it): this measures the seal.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { pino } from 'pino';
import { DEFAULT_CAPTURE_SETTINGS } from '../dist/capture/capture-deps.js';
import { runCapture } from '../dist/capture/run-capture.js';
import { planCapture } from '../dist/core/decision.js';
import { loadOrCreateSigningKey } from '../dist/evidence/signing-key.js';
import { FileQueue } from '../dist/queue/file/file-queue.js';
import { FileStore } from '../dist/storage/file-store.js';

const sizes = (process.argv[2] ?? '1 4').split(/\s+/).map(Number);
const GiB = 1024 ** 3;

async function writeArchive(path, bytes) {
  const block = randomBytes(4 * 1024 * 1024);
  const out = createWriteStream(path);
  for (let written = 0; written < bytes; written += block.length) {
    if (!out.write(block)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  execFileSync('sync', [path]); // flushed, as an archive is by the time anyone reads it; amber fsyncs again anyway
}

function opensslSeconds(path) {
  const t0 = process.hrtime.bigint();
  execFileSync('openssl', ['dgst', '-sha256', path], { stdio: 'pipe' });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function amberSeconds(root, path, name) {
  const queue = await FileQueue.open({ dir: join(root, `journal-${name}`) });
  const { key } = await loadOrCreateSigningKey(join(root, 'signing'));
  const checkpointDir = join(root, 'checkpoints');
  const pod = {
    metadata: { name: 'web', namespace: 'shop', uid: '5b0f7c1e-9a64-4d2b-8e3f-2c71a9d4b6e0' },
    spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'app:1' }] },
    status: {
      containerStatuses: [
        {
          name: 'app',
          image: 'app:1',
          imageID: `app@sha256:${'c'.repeat(64)}`,
          containerID: `containerd://${'a'.repeat(64)}`,
          ready: true,
          restartCount: 0,
          state: { running: {} },
        },
      ],
    },
  };
  const deps = {
    queue,
    api: {
      readPod: async () => pod,
      readNode: async () => ({ status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] } }),
      readLogs: async () => 'log line\n',
    },
    // The kubelet has already written the archive: the bench measures what amber does with it.
    kubelet: {
      checkpoint: async () => ({ path: `/var/lib/kubelet/checkpoints/${name}`, requestedAt: new Date().toISOString(), writtenAt: new Date().toISOString() }),
    },
    store: new FileStore(join(root, `store-${name}`)),
    signingKey: key,
    log: pino({ level: 'silent' }),
    // default: the node copy is amber's to take (moved into the store); SEAL_KEEP_NODE_COPY=1 measures the copy path
    settings: {
      ...DEFAULT_CAPTURE_SETTINGS,
      checkpointDir,
      minFreeBytes: 0,
      cluster: 'bench',
      deleteNodeCopy: process.env.SEAL_KEEP_NODE_COPY !== '1',
      report: process.env.BENCH_REPORT === '1',
    },
    actor: { component: 'bench' },
    version: 'bench',
  };
  const { capture } = await queue.enqueue(
    planCapture({
      policy: 'bench',
      containers: 'target',
      cooldownMs: 0,
      timeoutSeconds: 60,
      include: ['podSpec'],
      evidence: { retentionDays: 1, lock: 'none' },
      signal: {
        source: 'falco',
        rule: 'r',
        time: new Date().toISOString(),
        tags: [],
        fields: {},
        target: { namespace: 'shop', pod: 'web', container: 'app' },
        digest: '0'.repeat(64),
        raw: {},
      },
    }),
  );
  const t0 = process.hrtime.bigint();
  const done = await runCapture(deps, capture.id);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await queue.close();
  if (done.status.phase !== 'Sealed') throw new Error(`capture ended ${done.status.phase}: ${done.status.message}`);
  return seconds;
}

const root = await mkdtemp(join(tmpdir(), 'amber-bench-seal-'));
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
const rows = [];
try {
  await mkdir(join(root, 'checkpoints'));
  for (const gib of sizes) {
    const name = `checkpoint-web_shop-app-${gib}g.tar`;
    const path = join(root, 'checkpoints', name);
    await writeArchive(path, gib * GiB);
    opensslSeconds(path); // warm the page cache for both contenders alike
    const ossl = opensslSeconds(path);
    const before = (peak = process.memoryUsage().rss);
    const amber = await amberSeconds(root, path, name);
    const mib = gib * 1024;
    rows.push({
      gib,
      opensslMiBs: mib / ossl,
      amberMiBs: mib / amber,
      ratio: ossl / amber,
      peakRssMiB: peak / 1048576,
      rssGrowthMiB: (peak - before) / 1048576,
    });
    await rm(path, { force: true });
    await rm(join(root, `store-${name}`), { recursive: true, force: true });
  }
} finally {
  clearInterval(sampler);
  await rm(root, { recursive: true, force: true });
}
console.log('| archive | openssl dgst -sha256 | amber seal (hash + store + sign) | ratio | peak RSS | RSS growth |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(
    `| ${r.gib} GiB | ${r.opensslMiBs.toFixed(0)} MiB/s | ${r.amberMiBs.toFixed(0)} MiB/s | ${r.ratio.toFixed(2)} | ${r.peakRssMiB.toFixed(0)} MiB | ${r.rssGrowthMiB.toFixed(0)} MiB |`,
  );
}

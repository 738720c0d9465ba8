// bench/upload: amber's upload of a checkpoint archive to S3 (S3Store.putFile: SHA-256 of the file,
// multipart streaming upload with the hash checked before completion, metadata, size check)
// against a plain @aws-sdk/lib-storage Upload of the same file to the same server, with the same
// part size and queue size, in the same run. Each upload runs in its own child process, so its
// peak RSS is its own. Rounds are interleaved (plain, amber, plain, amber…); medians are printed.
//
// Needs a running S3 server: AMBER_S3_ENDPOINT + AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the
// environment (`scripts/rgw.sh start` prints them), and `npm run build`.
// Usage: node bench/upload.mjs [GiB, default 1]
// Knobs: BENCH_ROUNDS (3), BENCH_PART_MIB (16), BENCH_QUEUE (4), BENCH_LOCK=1 (bucket with Object
// Lock and compliance retention on amber's objects, as a policy would ask).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const MiB = 1024 * 1024;
const partSize = Number(process.env.BENCH_PART_MIB ?? 16) * MiB;
const queueSize = Number(process.env.BENCH_QUEUE ?? 4);
const endpoint = process.env.AMBER_S3_ENDPOINT;

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], process.argv[5], process.argv[6]);
} else {
  await main();
}

async function child(mode, file, bucket, key) {
  const { createS3Client } = await import('../dist/storage/s3-client.js');
  const client = createS3Client({ endpoint, forcePathStyle: true, maxAttempts: 8, requestTimeoutMs: 120_000 });
  const size = (await stat(file)).size;
  const t0 = process.hrtime.bigint();
  if (mode === 'plain') {
    const { Upload } = await import('@aws-sdk/lib-storage');
    await new Upload({ client, partSize, queueSize, params: { Bucket: bucket, Key: key, Body: createReadStream(file, { highWaterMark: MiB }) } }).done();
  } else {
    const { S3Store } = await import('../dist/storage/s3-store.js');
    const store = new S3Store({ client, bucket, partSize, queueSize });
    const retention = process.env.BENCH_LOCK === '1' ? { mode: 'COMPLIANCE', retainUntil: new Date(Date.now() + 86400_000) } : undefined;
    const stored = await store.putFile(key, file, { metadata: { 'amber-capture-id': 'bench' }, ...(retention ? { retention } : {}) });
    if (stored.size !== size) throw new Error('size mismatch');
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  client.destroy();
  process.stdout.write(`${JSON.stringify({ mode, seconds, bytes: size, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
}

function runChild(mode, file, bucket, key) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, file, bucket, key], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${mode} child exited ${code}`))));
  });
}

async function main() {
  if (!endpoint) throw new Error('set AMBER_S3_ENDPOINT and AWS_* (scripts/rgw.sh start prints them)');
  const gib = Number(process.argv[2] ?? 1);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const { createS3Client } = await import('../dist/storage/s3-client.js');
  const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const client = createS3Client({ endpoint, forcePathStyle: true, maxAttempts: 3, requestTimeoutMs: 60_000 });
  const bucket = `bench-upload-${Date.now().toString(36)}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket, ...(process.env.BENCH_LOCK === '1' ? { ObjectLockEnabledForBucket: true } : {}) }));
  const dir = await mkdtemp(join(tmpdir(), 'amber-bench-upload-'));
  const file = join(dir, 'checkpoint.tar');
  try {
    const block = randomBytes(4 * MiB);
    const out = createWriteStream(file);
    for (let written = 0; written < gib * 1024 * MiB; written += block.length) if (!out.write(block)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    execFileSync('sync');
    console.log(
      `upload of a ${gib} GiB file to ${endpoint}, part ${partSize / MiB} MiB × queue ${queueSize}, ${rounds} rounds; load ${loadavg()[0].toFixed(2)}`,
    );
    const results = { plain: [], amber: [] };
    for (let r = 0; r < rounds; r++) {
      for (const mode of ['plain', 'amber']) {
        const res = await runChild(mode, file, bucket, `${mode}/${r}/checkpoint.tar`);
        results[mode].push(res);
        console.log(
          `  round ${r + 1} ${mode.padEnd(5)} ${(res.bytes / MiB / res.seconds).toFixed(1).padStart(7)} MiB/s  ${res.seconds.toFixed(2)} s  peak RSS ${res.maxRssMiB.toFixed(1)} MiB`,
        );
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const speed = (mode) => median(results[mode].map((x) => x.bytes / MiB / x.seconds));
    const rss = (mode) => Math.max(...results[mode].map((x) => x.maxRssMiB));
    const ratio = speed('amber') / speed('plain');
    console.log(`plain lib-storage  ${speed('plain').toFixed(1)} MiB/s (median)  peak RSS ${rss('plain').toFixed(1)} MiB`);
    console.log(`amber S3Store      ${speed('amber').toFixed(1)} MiB/s (median)  peak RSS ${rss('amber').toFixed(1)} MiB`);
    console.log(`ratio amber/plain  ${ratio.toFixed(2)}  (target ≥ 0.8)   load ${loadavg()[0].toFixed(2)}`);
    if (process.env.BENCH_JSON) console.log(JSON.stringify({ gib, partSize, queueSize, results, ratio }));
  } finally {
    client.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

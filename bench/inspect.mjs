// bench/inspect: amber's memory search — `inspectCheckpoint` with a search, the code `amber inspect
// --search` runs (built, from dist/) — over a generated checkpoint archive with ≥ 1 GiB of pages,
// against `grep -c PATTERN FILE` of the same archive, in the same run; and amber's peak RSS. The
// archive is the simulated cluster's CRI-O archive, which has the shape of a real one (CRIU 4.2
// images, PE_LAZY | PE_PRESENT pagemaps, CRI-O's members; test/sim-tests/archive-shape.test.ts);
// an inspection with warnings fails the run.
// Usage: npm run build && node bench/inspect.mjs [GiB of pages, default 1]   (BENCH_ROUNDS, default 3)
// The archive is read as `readFileChunks` reads it (1 MiB chunks, reused buffers); one more run per
// round reads it with createReadStream, to show what the reader costs.
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBenchArchive } from './sim-archive.mjs';

const LITERAL = '198.51.100.7'; // the simulated miner's pool address: in its argv, its config, bash's history
const REGEX = 'stratum\\+tcp://[0-9.]+:[0-9]+';

if (process.argv[2] === '--child') {
  // One measurement in a process of its own, so that its RSS is its own.
  const [, , , path, reader, search] = process.argv;
  const { inspectCheckpoint } = await import('../dist/analysis/inspect-checkpoint.js');
  const { readFileChunks } = await import('../dist/analysis/archive/read-file-chunks.js');
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  const t0 = process.hrtime.bigint();
  // The archive as `amber inspect` reads a file: 1 MiB chunks in a ring of reused buffers.
  const r = await inspectCheckpoint(
    () => (reader === 'stream' ? createReadStream(path, { highWaterMark: 1 << 20 }) : readFileChunks(path)),
    search ? { search } : {},
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  process.stdout.write(
    JSON.stringify({
      seconds,
      matches: r.matches?.length ?? null,
      processes: r.inspection.processes.length,
      warnings: r.inspection.warnings.length,
      baselineMiB: baseline / 2 ** 20,
      peakMiB: peak / 2 ** 20,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
    }),
  );
  process.exit(0);
}

const gib = Number(process.argv[2] ?? '1');
const rounds = Number(process.env.BENCH_ROUNDS ?? '3');

function grepSeconds(args, path) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('grep', [...args, path], { env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0 && r.status !== 1) throw new Error(`grep failed: ${r.stderr}`);
  return { seconds, count: Number(r.stdout.trim()) };
}

function amber(path, search, reader = 'chunks') {
  const r = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', path, reader, search ?? ''], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`amber child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const root = await mkdtemp(join(tmpdir(), 'amber-bench-inspect-'));
try {
  const path = join(root, 'checkpoint-web_shop-app.tar');
  const t0 = Date.now();
  await writeBenchArchive(path, gib);
  execFileSync('sync', [path]);
  const size = statSync(path).size;
  console.error(`archive: ${(size / 2 ** 30).toFixed(3)} GiB (${gib} GiB of pages) written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  grepSeconds(['-c', LITERAL], path); // warm the page cache for both contenders alike

  const runs = { grepLiteral: [], amberLiteral: [], grepRegex: [], amberRegex: [], amberNoSearch: [], amberLiteralStream: [] };
  let last = {};
  for (let i = 0; i < rounds; i++) {
    runs.grepLiteral.push((last.grepLiteral = grepSeconds(['-c', '-F', LITERAL], path)));
    runs.amberLiteral.push((last.amberLiteral = amber(path, LITERAL)));
    runs.grepRegex.push((last.grepRegex = grepSeconds(['-c', '-E', REGEX], path)));
    runs.amberRegex.push((last.amberRegex = amber(path, `/${REGEX}/`)));
    runs.amberNoSearch.push((last.amberNoSearch = amber(path)));
    runs.amberLiteralStream.push((last.amberLiteralStream = amber(path, LITERAL, 'stream')));
    console.error(
      `round ${i + 1}: ${Object.entries(last)
        .map(([k, v]) => `${k} ${v.seconds.toFixed(3)} s`)
        .join(', ')}`,
    );
  }
  // the archive must read as a real one does: cleanly
  const warned = Object.entries(last).filter(([k, v]) => k.startsWith('amber') && v.warnings !== 0);
  if (warned.length > 0) throw new Error(`the inspection warned: ${warned.map(([k, v]) => `${k} ${v.warnings}`).join(', ')}`);
  const mbs = (s) => size / 1e6 / s;
  const sec = (k) => median(runs[k].map((r) => r.seconds));
  const peak = (k) => Math.max(...runs[k].map((r) => r.peakMiB));
  const maxRss = (k) => Math.max(...runs[k].map((r) => r.maxRssMiB));
  const growth = (k) => Math.max(...runs[k].map((r) => r.peakMiB - r.baselineMiB));
  console.log(`archive ${(size / 2 ** 30).toFixed(3)} GiB, ${gib} GiB of pages; median of ${rounds} rounds; MB = 10^6 bytes of archive`);
  console.log('| search | grep -c | amber inspect --search | ratio (grep time / amber time) | amber peak RSS (growth) | matches: grep lines / amber |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  console.log(
    `| literal \`${LITERAL}\` | ${mbs(sec('grepLiteral')).toFixed(0)} MB/s | ${mbs(sec('amberLiteral')).toFixed(0)} MB/s | **${(sec('grepLiteral') / sec('amberLiteral')).toFixed(2)}** | ${maxRss('amberLiteral').toFixed(0)} MiB (+${growth('amberLiteral').toFixed(1)}) | ${last.grepLiteral.count} / ${last.amberLiteral.matches} |`,
  );
  console.log(
    `| regex \`/${REGEX}/\` (grep -E) | ${mbs(sec('grepRegex')).toFixed(0)} MB/s | ${mbs(sec('amberRegex')).toFixed(0)} MB/s | ${(sec('grepRegex') / sec('amberRegex')).toFixed(2)} | ${maxRss('amberRegex').toFixed(0)} MiB (+${growth('amberRegex').toFixed(1)}) | ${last.grepRegex.count} / ${last.amberRegex.matches} |`,
  );
  console.log(
    `| none (inspect only: tar, images, argv/env, rootfs diff) | — | ${mbs(sec('amberNoSearch')).toFixed(0)} MB/s | — | ${maxRss('amberNoSearch').toFixed(0)} MiB (+${growth('amberNoSearch').toFixed(1)}) | — |`,
  );
  console.log(
    `| literal, archive read with createReadStream (1 MiB) instead | ${mbs(sec('grepLiteral')).toFixed(0)} MB/s | ${mbs(sec('amberLiteralStream')).toFixed(0)} MB/s | ${(sec('grepLiteral') / sec('amberLiteralStream')).toFixed(2)} | ${maxRss('amberLiteralStream').toFixed(0)} MiB (+${growth('amberLiteralStream').toFixed(1)}) | ${last.grepLiteral.count} / ${last.amberLiteralStream.matches} |`,
  );
  console.log(
    `peak RSS: sampled every 5 ms (growth over the child's RSS before the inspection) and the kernel's max RSS of the child; highest of the rounds: ${peak('amberLiteral').toFixed(0)} MiB sampled`,
  );
} finally {
  await rm(root, { recursive: true, force: true });
}

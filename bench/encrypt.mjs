#!/usr/bin/env node
// bench/encrypt: amber's age encryption (createAgeEncryptStream from dist/: node:crypto's
// ChaCha20-Poly1305 over 64 KiB chunks sealed in 1 MiB runs, on worker threads when there are
// some) of a 1 GiB file on disk, against the age CLI (`age -e -r`, Go) on the same file in the
// same run. amber runs four ways: as configured by default (no worker thread on 2 CPUs), with one
// worker thread (`workers: 1`, past the first 64 MiB), and both again with glibc's malloc
// thresholds fixed (GLIBC_TUNABLES, "malloc tuned"; see docs/benchmarks-history.md). Also against the
// `age-encryption` npm package (age's author's TypeScript implementation, @noble/ciphers in pure
// JS, Web streams).
//
// Each encryption runs in its own process, reading the input file (on disk, in the page cache
// after it was written) and writing its output to BENCH_OUT_DIR (default /dev/shm: with outputs on
// the disk, the writeback of one contender's gigabyte slowed whichever ran next by up to 3x), so
// its peak RSS is its own. Rounds are interleaved (age, amber, …, age, …); medians printed. Every
// output of the first round is decrypted with `age -d` and its SHA-256 compared with the input's,
// so a fast wrong answer cannot win.
//
// Then decryption, fewer contenders: the age CLI's output of the input, decrypted by `age -d` and
// by createAgeDecryptStream (BENCH_SKIP_DECRYPT=1 skips it). Then the cipher alone, in-process:
// ChaCha20-Poly1305 over 64 KiB chunks with node:crypto (OpenSSL) and with @noble/ciphers, which
// is why amber's payload cipher is node:crypto's.
//
// Usage: npm run bench:encrypt   (= npm run build && node bench/encrypt.mjs)
// Knobs: BENCH_MIB (1024), BENCH_ROUNDS (3), BENCH_CIPHER_MIB (256), BENCH_SKIP_NPM=1,
// BENCH_SKIP_DECRYPT=1, BENCH_OUT_DIR, BENCH_BASELINE_DIST=<another build's dist/> (adds it as
// "amber baseline", for a before/after in the same run, e.g. a build of the previous commit),
// BENCH_SKIP_TUNED=1 (no "malloc tuned" contenders), BENCH_TUNABLES (their GLIBC_TUNABLES).
//
// MB/s is 10^6 bytes of plaintext per second of wall time of the encrypting process, from spawn
// to exit; "without start-up" divides by the seconds of the pipeline alone as a Node child
// measures them (for age, the same wall time): inside amber's long-lived agent, Node's start-up
// (~0.1 s here) is not paid per file. CPU is user + system seconds (GNU time), steadier than wall
// time on a shared machine.
import { execFileSync, spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

const MiB = 1024 * 1024;
const SELF = fileURLToPath(import.meta.url);
const GNU_TIME = '/usr/bin/time';

const DIST = new URL('../dist/', import.meta.url).href;
const TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864';

if (process.argv[2] === '--child') await child(...process.argv.slice(3));
else await main();

/**
 * One run in this process. `mode`: amber (encrypt with createAgeEncryptStream from `dist`, with
 * the JSON `options`), amber-decrypt (`key` is then an identity file), or npm.
 */
async function child(mode, input, output, key, dist = DIST, options = '{}') {
  const t0 = process.hrtime.bigint();
  if (mode === 'amber') {
    const { createAgeEncryptStream } = await import(new URL('evidence/age/age-encrypt.js', dist).href);
    await pipeline(createReadStream(input, { highWaterMark: MiB }), createAgeEncryptStream([key], JSON.parse(options)), createWriteStream(output));
  } else if (mode === 'amber-decrypt') {
    const { createAgeDecryptStream } = await import(new URL('evidence/age/age-decrypt.js', dist).href);
    const { parseAgeIdentityFile } = await import(new URL('evidence/age/age-keys.js', dist).href);
    const identities = parseAgeIdentityFile(readFileSync(key, 'utf8'));
    await pipeline(createReadStream(input, { highWaterMark: MiB }), createAgeDecryptStream(identities, JSON.parse(options)), createWriteStream(output));
  } else {
    const recipient = key;
    const { Encrypter } = await import('age-encryption');
    const e = new Encrypter();
    e.addRecipient(recipient);
    const encrypted = await e.encrypt(Readable.toWeb(createReadStream(input, { highWaterMark: MiB })));
    await pipeline(Readable.fromWeb(encrypted), createWriteStream(output));
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`${JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
}

/**
 * Runs `cmd args` and returns its wall seconds and peak RSS (GNU time's %M when installed,
 * otherwise /proc/<pid>/status VmHWM sampled every 10 ms).
 */
function measure(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const viaTime = existsSync(GNU_TIME);
    const t0 = process.hrtime.bigint();
    const options = { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } };
    const p = viaTime ? spawn(GNU_TIME, ['-f', 'BENCH_RSS_KIB=%M BENCH_CPU=%U+%S', cmd, ...args], options) : spawn(cmd, args, options);
    let out = '';
    let err = '';
    let hwmKiB = 0;
    const timer = viaTime
      ? undefined
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
            if (m) hwmKiB = Math.max(hwmKiB, Number(m[1]));
          } catch {
            // exited between samples
          }
        }, 10);
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => {
      clearInterval(timer);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`));
      const rss = /BENCH_RSS_KIB=(\d+)/.exec(err);
      const cpu = /BENCH_CPU=([\d.]+)\+([\d.]+)/.exec(err);
      // A Node child also reports the seconds of its pipeline alone, without Node's start-up.
      const inner = /^\{.*"seconds".*\}$/m.exec(out);
      const pipelineSeconds = inner ? JSON.parse(inner[0]).seconds : seconds;
      resolve({ seconds, pipelineSeconds, cpu: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN, maxRssMiB: (rss ? Number(rss[1]) : hwmKiB) / 1024, stdout: out });
    });
  });
}

async function generate(path, size) {
  // AES-CTR keystream: incompressible, and generated far faster than any contender encrypts.
  const ks = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(MiB);
  let left = size;
  const source = new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(MiB, left);
      left -= n;
      this.push(ks.update(zeros.subarray(0, n)));
    },
  });
  const hash = createHash('sha256');
  source.on('data', (c) => hash.update(c));
  await pipeline(source, createWriteStream(path));
  return hash.digest('hex');
}

/** Prints the medians of `results` as a Markdown table, with ratios to the contender `baseName`. */
function table(what, baseName, results, size, rounds) {
  const base = size / 1e6 / median(results.get(baseName).map((m) => m.seconds));
  const baseCpu = median(results.get(baseName).map((m) => m.cpu));
  console.log(
    `\n| ${what} | MB/s (median of ${rounds}) | ratio to ${baseName} | MB/s without start-up | its ratio | CPU s (median) | CPU ratio (${baseName} / it) | peak RSS (max of rounds) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
  );
  for (const [name, ms] of results) {
    const mbs = size / 1e6 / median(ms.map((m) => m.seconds));
    const inner = size / 1e6 / median(ms.map((m) => m.pipelineSeconds));
    const cpu = median(ms.map((m) => m.cpu));
    console.log(
      `| ${name} | ${mbs.toFixed(0)} | ${(mbs / base).toFixed(2)} | ${inner.toFixed(0)} | ${(inner / base).toFixed(2)} | ${cpu.toFixed(2)} | ${(baseCpu / cpu).toFixed(2)} | ${Math.max(...ms.map((m) => m.maxRssMiB)).toFixed(1)} MiB |`,
    );
  }
}

function sha256File(file) {
  return execFileSync('sha256sum', [file], { maxBuffer: 1024 }).toString().split(' ')[0];
}

function ageDecryptSha256(file, keyFile) {
  const out = execFileSync('bash', ['-c', 'age -d -i "$1" "$2" | sha256sum', 'bash', keyFile, file], { maxBuffer: 1024 });
  return out.toString().split(' ')[0];
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function cipherOnly(totalMiB) {
  const chunk = randomBytes(64 * 1024);
  const key = randomBytes(32);
  const n = (totalMiB * MiB) / chunk.length;
  const nonce = Buffer.alloc(12);
  const rate = (fn) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      nonce.writeUInt32BE(i, 7);
      fn(nonce);
    }
    return (n * chunk.length) / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  const node = rate((iv) => {
    const c = createCipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 });
    c.update(chunk);
    c.final();
    c.getAuthTag();
  });
  let noble;
  try {
    const { chacha20poly1305 } = await import('@noble/ciphers/chacha.js');
    noble = rate((iv) => chacha20poly1305(key, iv).encrypt(chunk));
  } catch (e) {
    noble = `unavailable (${e.code ?? e.message})`;
  }
  return { node, noble };
}

async function main() {
  const size = Number(process.env.BENCH_MIB ?? 1024) * MiB;
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const withNpm = process.env.BENCH_SKIP_NPM !== '1';
  const dir = await mkdtemp(join(tmpdir(), 'amber-bench-encrypt-'));
  const outBase = process.env.BENCH_OUT_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  const outDir = await mkdtemp(join(outBase, 'amber-bench-encrypt-out-'));
  try {
    const keyFile = join(dir, 'key.txt');
    execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', keyFile]).toString().trim();
    const input = join(dir, 'archive.tar');
    console.log(`generating ${size / MiB} MiB input…`);
    const inputSha = await generate(input, size);
    const ageVersion = execFileSync('age', ['--version']).toString().trim();
    const npmVersion = withNpm ? JSON.parse(readFileSync(new URL('../node_modules/age-encryption/package.json', import.meta.url), 'utf8')).version : '-';
    console.log(
      `node ${process.version}, age ${ageVersion}, age-encryption ${npmVersion}, load before ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );

    // glibc's malloc by default returns freed memory to the kernel and re-faults it page by page;
    // fixed thresholds keep it (docs/benchmarks-history.md, Encryption). The same amber, in that setting.
    const tuned = process.env.BENCH_SKIP_TUNED === '1' ? undefined : { GLIBC_TUNABLES: process.env.BENCH_TUNABLES ?? TUNABLES };
    const baseline = process.env.BENCH_BASELINE_DIST ? pathToFileURL(`${process.env.BENCH_BASELINE_DIST.replace(/\/$/, '')}/`).href : undefined;
    const amber = (dist, options, env) => (out) =>
      measure(process.execPath, [SELF, '--child', 'amber', input, out, recipient, dist, JSON.stringify(options)], env);
    const contenders = [
      ['age CLI', (out) => measure('age', ['-e', '-r', recipient, '-o', out, input])],
      ['amber', amber(DIST, {})],
      ['amber, workers: 1', amber(DIST, { workers: 1 })],
      ...(tuned ? [['amber, malloc tuned', amber(DIST, {}, tuned)]] : []),
      ...(tuned ? [['amber, workers: 1, malloc tuned', amber(DIST, { workers: 1 }, tuned)]] : []),
      ...(baseline ? [['amber baseline', amber(baseline, {})]] : []),
      ...(baseline && tuned ? [['amber baseline, malloc tuned', amber(baseline, {}, tuned)]] : []),
      ...(withNpm ? [['age-encryption (npm)', (out) => measure(process.execPath, [SELF, '--child', 'npm', input, out, recipient])]] : []),
    ];
    const results = new Map(contenders.map(([name]) => [name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const [name, run] of contenders) {
        const out = join(outDir, 'out.age');
        const m = await run(out);
        const outSize = (await stat(out)).size;
        if (r === 0) {
          const sha = ageDecryptSha256(out, keyFile);
          if (sha !== inputSha) throw new Error(`${name}: age -d of its output does not give the input back`);
        }
        await rm(out);
        results.get(name).push(m);
        console.log(
          `round ${r + 1} ${name.padEnd(32)} ${(size / 1e6 / m.seconds).toFixed(0).padStart(5)} MB/s  ${m.seconds.toFixed(2)} s (pipeline ${m.pipelineSeconds.toFixed(2)} s)  CPU ${m.cpu.toFixed(2)} s  peak RSS ${m.maxRssMiB.toFixed(1)} MiB  load ${loadavg()[0].toFixed(2)}  output ${outSize} B${r === 0 ? ' (age -d: same SHA-256)' : ''}`,
        );
      }
    }
    console.log(`\ninput ${size / MiB} MiB on ${tmpdir()}, outputs in ${outBase}`);
    table('encryptor', 'age CLI', results, size, rounds);

    if (process.env.BENCH_SKIP_DECRYPT !== '1') {
      const encrypted = join(dir, 'archive.tar.age');
      execFileSync('age', ['-e', '-r', recipient, '-o', encrypted, input]);
      const amberDecrypt = (options, env) => (out) =>
        measure(process.execPath, [SELF, '--child', 'amber-decrypt', encrypted, out, keyFile, DIST, JSON.stringify(options)], env);
      const decryptors = [
        ['age -d', (out) => measure('age', ['-d', '-i', keyFile, '-o', out, encrypted])],
        ['amber', amberDecrypt({})],
        ['amber, workers: 1', amberDecrypt({ workers: 1 })],
        ...(tuned ? [['amber, malloc tuned', amberDecrypt({}, tuned)]] : []),
      ];
      const decrypted = new Map(decryptors.map(([name]) => [name, []]));
      for (let r = 0; r < rounds; r++) {
        for (const [name, run] of decryptors) {
          const out = join(outDir, 'out.tar');
          const m = await run(out);
          if (r === 0 && sha256File(out) !== inputSha) throw new Error(`${name}: decryption does not give the input back`);
          await rm(out);
          decrypted.get(name).push(m);
          console.log(
            `round ${r + 1} decrypt ${name.padEnd(24)} ${(size / 1e6 / m.seconds).toFixed(0).padStart(5)} MB/s  ${m.seconds.toFixed(2)} s (pipeline ${m.pipelineSeconds.toFixed(2)} s)  CPU ${m.cpu.toFixed(2)} s  peak RSS ${m.maxRssMiB.toFixed(1)} MiB  load ${loadavg()[0].toFixed(2)}${r === 0 ? ' (same SHA-256)' : ''}`,
          );
        }
      }
      table('decryptor', 'age -d', decrypted, size, rounds);
    }
    const c = await cipherOnly(Number(process.env.BENCH_CIPHER_MIB ?? 256));
    const fmt = (v) => (typeof v === 'number' ? `${v.toFixed(0)} MB/s` : v);
    console.log(`\ncipher alone, 64 KiB chunks, in-process: node:crypto ${fmt(c.node)}, @noble/ciphers ${fmt(c.noble)}`);
    console.log(
      `load after ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(outDir, { recursive: true, force: true });
  }
}

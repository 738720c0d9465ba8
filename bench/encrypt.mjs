#!/usr/bin/env node
// bench/encrypt: amber's age encryption (createAgeEncryptStream from dist/, node:crypto's
// ChaCha20-Poly1305) of a 1 GiB file on disk, against the age CLI (`age -e -r`, Go) on the same
// file in the same run, and against the `age-encryption` npm package (age's author's TypeScript
// implementation, @noble/ciphers in pure JS, Web streams). Each encryption runs in its own
// process, reading the input file (on disk, in the page cache after it was written) and writing
// its output to BENCH_OUT_DIR (default /dev/shm: with outputs on the disk, the writeback of one
// contender's gigabyte slowed whichever ran next by up to 3x), so its peak RSS is its own. Rounds are interleaved (age, amber, age-encryption, age, …); medians printed.
// Every output of the first round is decrypted with `age -d` and its SHA-256 compared with the
// input's, so a fast wrong answer cannot win.
//
// Then the cipher alone, in-process: ChaCha20-Poly1305 over 64 KiB chunks with node:crypto
// (OpenSSL) and with @noble/ciphers, which is why amber's payload cipher is node:crypto's.
//
// Usage: npm run bench:encrypt   (= npm run build && node bench/encrypt.mjs)
// Knobs: BENCH_MIB (1024), BENCH_ROUNDS (3), BENCH_CIPHER_MIB (256), BENCH_SKIP_NPM=1, BENCH_OUT_DIR.
// MB/s is 10^6 bytes of plaintext per second of wall time of the encrypting process. CPU is its
// user + system seconds (GNU time), steadier than wall time on a shared machine.
import { execFileSync, spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const MiB = 1024 * 1024;
const SELF = fileURLToPath(import.meta.url);
const GNU_TIME = '/usr/bin/time';

if (process.argv[2] === '--child') await child(process.argv[3], process.argv[4], process.argv[5], process.argv[6]);
else await main();

/** One encryption in this process: `mode` is amber or npm. */
async function child(mode, input, output, recipient) {
  const t0 = process.hrtime.bigint();
  if (mode === 'amber') {
    const { createAgeEncryptStream } = await import('../dist/evidence/age-encrypt.js');
    await pipeline(createReadStream(input, { highWaterMark: MiB }), createAgeEncryptStream([recipient]), createWriteStream(output));
  } else {
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
function measure(cmd, args) {
  return new Promise((resolve, reject) => {
    const viaTime = existsSync(GNU_TIME);
    const t0 = process.hrtime.bigint();
    const p = viaTime
      ? spawn(GNU_TIME, ['-f', 'BENCH_RSS_KIB=%M BENCH_CPU=%U+%S', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
      resolve({ seconds, cpu: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN, maxRssMiB: (rss ? Number(rss[1]) : hwmKiB) / 1024, stdout: out });
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
    console.log(`node ${process.version}, age ${ageVersion}, age-encryption ${npmVersion}, load before ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

    const contenders = [
      ['age CLI', (out) => measure('age', ['-e', '-r', recipient, '-o', out, input])],
      ['amber', (out) => measure(process.execPath, [SELF, '--child', 'amber', input, out, recipient])],
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
        console.log(`round ${r + 1} ${name.padEnd(22)} ${(size / 1e6 / m.seconds).toFixed(0).padStart(5)} MB/s  ${m.seconds.toFixed(2)} s  CPU ${m.cpu.toFixed(2)} s  peak RSS ${m.maxRssMiB.toFixed(1)} MiB  output ${outSize} B${r === 0 ? ' (age -d: same SHA-256)' : ''}`);
      }
    }
    const base = size / 1e6 / median(results.get('age CLI').map((m) => m.seconds));
    const baseCpu = median(results.get('age CLI').map((m) => m.cpu));
    console.log(`\ninput ${size / MiB} MiB on ${tmpdir()}, outputs in ${outBase}`);
    console.log(`| encryptor | MB/s (median of ${rounds}) | ratio to age CLI | CPU s (median) | CPU ratio (age / it) | peak RSS (max of rounds) |\n| --- | ---: | ---: | ---: | ---: | ---: |`);
    for (const [name, ms] of results) {
      const mbs = size / 1e6 / median(ms.map((m) => m.seconds));
      const cpu = median(ms.map((m) => m.cpu));
      console.log(`| ${name} | ${mbs.toFixed(0)} | ${(mbs / base).toFixed(2)} | ${cpu.toFixed(2)} | ${(baseCpu / cpu).toFixed(2)} | ${Math.max(...ms.map((m) => m.maxRssMiB)).toFixed(1)} MiB |`);
    }
    const c = await cipherOnly(Number(process.env.BENCH_CIPHER_MIB ?? 256));
    const fmt = (v) => (typeof v === 'number' ? `${v.toFixed(0)} MB/s` : v);
    console.log(`\ncipher alone, 64 KiB chunks, in-process: node:crypto ${fmt(c.node)}, @noble/ciphers ${fmt(c.noble)}`);
    console.log(`load after ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(outDir, { recursive: true, force: true });
  }
}


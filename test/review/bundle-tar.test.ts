import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { compactVerify, createLocalJWKSet } from 'jose';
import t from 'tap';
import { directorySource, type BundleSource } from '../../src/evidence/bundle-source.js';
import { bundleTar, offlineVerifyReadme } from '../../src/review/bundle-tar.js';
import { makeBundle } from '../helpers/make-bundle.js';
import { AMBER_BIN } from '../helpers/run-amber.js';

const run = promisify(execFile);

async function tmp(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-bundletar-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a command; its exit code and output, whatever the code. */
async function sh(cmd: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** The built CLI, without tap's loader in NODE_OPTIONS (as test/helpers/run-amber.ts does). */
const amber = (args: string[], cwd?: string) => sh('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, AMBER_BIN, ...args], cwd);

/** An in-memory bundle source: `files` maps names to their bytes; `streams` overrides what open() gives. */
function memorySource(
  files: Record<string, Buffer>,
  opts: { captureId?: string; sizes?: Record<string, number>; streams?: Record<string, () => Readable> } = {},
): BundleSource {
  return {
    location: 'memory:',
    captureId: opts.captureId ?? 'cap-1',
    list: async () => Object.keys(files),
    size: async (name) => opts.sizes?.[name] ?? files[name]?.length,
    open: async (name) => opts.streams?.[name]?.() ?? Readable.from([files[name] as Buffer]),
  };
}

t.test('a sealed bundle tarred, extracted by the system tar and verified by the built CLI: VALID; one byte changed: INVALID naming the file', async (t) => {
  const b = await makeBundle();
  t.teardown(() => b.cleanup());
  const captureId = b.manifest.captureId;
  const root = `amber-${captureId}`;
  const jwks = await readFile(b.jwksFile);
  const readme = offlineVerifyReadme({ captureId, root, jwksName: 'jwks.json', manifestSha256: 'f'.repeat(64) });
  const work = await tmp(t);
  const file = join(work, 'bundle.tar');
  const mtime = new Date(Date.UTC(2026, 10, 28, 10, 0, 0));
  await pipeline(
    bundleTar(directorySource(b.dir), {
      root,
      mtime,
      extras: [
        { name: 'jwks.json', body: jwks },
        { name: 'README.txt', body: Buffer.from(readme) },
      ],
    }),
    createWriteStream(file),
  );
  const out = join(work, 'out');
  await mkdir(out);
  const x = await sh('tar', ['-xf', file, '-C', out]);
  t.same(x, { code: 0, stdout: '', stderr: '' }, 'GNU tar extracts it without a warning');

  const listing = await sh('tar', ['--numeric-owner', '--utc', '-tvf', file]);
  const lines = listing.stdout.trimEnd().split('\n');
  const expected = [...b.artifacts, 'manifest.json', 'manifest.jws'].sort();
  t.same(
    lines.map((l) => l.split(/\s+/).pop()),
    [`${root}/`, `${root}/${captureId}/`, ...expected.map((n) => `${root}/${captureId}/${n}`), `${root}/jwks.json`, `${root}/README.txt`],
    'the bundle in list order, then the extras',
  );
  for (const l of lines.slice(2)) t.match(l, /^-rw-r--r-- 0\/0 .* 2026-11-28 10:00 /, 'mode 0644, uid/gid 0, the given mtime');

  for (const name of expected) t.same(await readFile(join(out, root, captureId, name)), await readFile(b.path(name)), `${name}: the same bytes`);
  t.same(await readFile(join(out, root, 'jwks.json')), jwks);
  t.equal(await readFile(join(out, root, 'README.txt'), 'utf8'), readme);

  // the README's own command, run where the tar was unpacked
  const cmd = /^ {2}amber verify (\S+) --jwks (\S+)$/m.exec(readme);
  t.ok(cmd, 'the README says how to run amber verify');
  const ok = await amber(['verify', cmd?.[1] ?? '', '--jwks', cmd?.[2] ?? ''], out);
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.match(ok.stdout, /^VALID: all \d+ checks passed$/m);

  // the README's recipe without amber: the detached JWS made whole, verified with the JWKS
  const dir = join(out, root, captureId);
  const recipe = /^ {2}h=.*\n {2}p=.*\n {2}echo .*$/m.exec(readme)?.[0] ?? '';
  t.not(recipe, '', 'the README shows how to rebuild the compact JWS');
  t.equal((await sh('bash', ['-euc', recipe], dir)).code, 0);
  const compact = (await readFile(join(dir, 'manifest.compact.jws'), 'utf8')).trim();
  const { payload, protectedHeader } = await compactVerify(compact, createLocalJWKSet(b.jwks));
  t.same(Buffer.from(payload), await readFile(join(dir, 'manifest.json')));
  t.equal(protectedHeader.alg, 'EdDSA');
  await rm(join(dir, 'manifest.compact.jws'));
  const sums = await sh('bash', ['-euc', /^ {2}jq .*$/m.exec(readme)?.[0] ?? 'false'], dir);
  t.equal(sums.code, 0, sums.stderr);
  t.equal(sums.stdout.trimEnd().split('\n').length, b.artifacts.length, 'sha256sum -c checks every artifact');

  const victim = join(dir, 'pod.json');
  const bytes = await readFile(victim);
  bytes[10] = (bytes[10] as number) ^ 0x01;
  await writeFile(victim, bytes);
  const bad = await amber(['verify', dir, '--jwks', join(out, root, 'jwks.json')]);
  t.equal(bad.code, 1, bad.stdout + bad.stderr);
  t.match(bad.stdout, /^FAIL artifact pod\.json: sha256 differs/m);
  t.match(bad.stdout, /^INVALID: 1 of \d+ checks failed$/m);
});

t.test('names too long for ustar (and not ASCII) go in pax path records; the system tar extracts them whole', async (t) => {
  const root = ['evidence', 'r'.repeat(60), 's'.repeat(60)].join('/');
  const files = {
    [`checkpoint-${'c'.repeat(90)}.tar.age`]: Buffer.from('age bytes'),
    'logs-café.txt': Buffer.from('é\n'),
    'pod.json': Buffer.from('{}'),
    [`report-${'x'.repeat(150)}.json`]: Buffer.alloc(1500, 7),
  };
  const work = await tmp(t);
  const file = join(work, 'long.tar');
  await pipeline(
    bundleTar(memorySource(files, { captureId: 'c'.repeat(40) }), { root, extras: [{ name: `${'j'.repeat(120)}.json`, body: Buffer.from('{"keys":[]}') }] }),
    createWriteStream(file),
  );
  const tar = await readFile(file);
  t.equal(tar.length % 512, 0);
  t.same(tar.subarray(tar.length - 1024), Buffer.alloc(1024), 'two zero blocks at the end');
  const pax = [...tar.toString('latin1').matchAll(/\d+ path=/g)].length;
  t.equal(pax, 4, 'pax only where ustar cannot say the name (pod.json fits the prefix split)');
  const out = join(work, 'out');
  await mkdir(out);
  t.same(await sh('tar', ['-xf', file, '-C', out]), { code: 0, stdout: '', stderr: '' });
  for (const [name, body] of Object.entries(files)) t.same(await readFile(join(out, root, 'c'.repeat(40), name)), body, name);
  t.equal(await readFile(join(out, root, `${'j'.repeat(120)}.json`), 'utf8'), '{"keys":[]}');
});

t.test('a file whose streamed length differs from its size, or that cannot be opened or read, cuts the tar off with an error', async (t) => {
  const body = Buffer.alloc(1000, 1);
  const cases: [string, BundleSource, RegExp][] = [
    ['shorter', memorySource({ 'a.tar': body }, { sizes: { 'a.tar': 1100 } }), /a\.tar.*ended after 1000 bytes, its listed size is 1100/],
    ['longer', memorySource({ 'a.tar': body }, { sizes: { 'a.tar': 900 } }), /a\.tar.*longer than its listed size of 900/],
    [
      'unreadable',
      memorySource(
        { 'a.tar': body },
        {
          streams: {
            'a.tar': () =>
              Readable.from(
                (async function* () {
                  yield body.subarray(0, 10);
                  throw new Error('EIO');
                })(),
              ),
          },
        },
      ),
      /a\.tar.*reading it failed after 10 bytes: EIO/,
    ],
    ['gone', { ...memorySource({ 'a.tar': body }), open: () => Promise.reject(new Error('ENOENT')) }, /a\.tar.*cannot open it: ENOENT/],
  ];
  for (const [what, source, message] of cases) {
    const seen: Buffer[] = [];
    const sink = new Writable({
      write: (c: Buffer, _e, cb) => {
        seen.push(c);
        cb();
      },
    });
    await t.rejects(pipeline(bundleTar(source, { root: 'r', extras: [] }), sink), { code: 'BUNDLE_READ_FAILED', message }, what);
    t.ok(Buffer.concat(seen).length < 4 * 512 + 1000, `${what}: no end-of-archive blocks were written`);
  }
});

t.test('a bad root, bundle folder or extra name is refused before anything is read', async (t) => {
  const src = memorySource({ 'a.tar': Buffer.alloc(1) });
  for (const root of ['', '/abs', 'a/../b', 'a//b']) t.throws(() => bundleTar(src, { root, extras: [] }), { code: 'CONFIG_INVALID' }, JSON.stringify(root));
  t.throws(() => bundleTar(src, { root: 'r', extras: [{ name: 'x/y', body: Buffer.alloc(0) }] }), { code: 'CONFIG_INVALID' });
  t.throws(() => bundleTar({ ...src, captureId: undefined }, { root: 'r', extras: [] }), { code: 'CONFIG_INVALID' });
});

t.test('a file over 8 GiB has its size in a pax record; a consumer that stops closes the file', async (t) => {
  const size = 9 * 1024 ** 3;
  let destroyed = false;
  const endless = () => {
    const r = Readable.from(
      (async function* () {
        for (;;) yield Buffer.alloc(65536);
      })(),
    );
    r.once('close', () => (destroyed = true));
    return r;
  };
  const tar = bundleTar(memorySource({ 'big.tar': Buffer.alloc(0) }, { sizes: { 'big.tar': size }, streams: { 'big.tar': endless } }), {
    root: 'r',
    extras: [],
  });
  let head = Buffer.alloc(0);
  for await (const c of tar) {
    head = Buffer.concat([head, c as Buffer]);
    if (head.length >= 8 * 512) break; // leaves the loop: the tar stream is destroyed
  }
  t.match(head.subarray(3 * 512, 4 * 512).toString('latin1'), /^\d+ size=9663676416\n/, 'the pax record carries the size');
  t.equal(head.subarray(2 * 512 + 156, 2 * 512 + 157).toString(), 'x');
  await new Promise((r) => setImmediate(r));
  t.ok(destroyed, 'the source stream was destroyed');
});

t.test('memory stays flat while a 256 MiB file streams through a slow consumer', async (t) => {
  const size = 256 * 1024 * 1024;
  const chunk = 64 * 1024;
  const generated = () =>
    Readable.from(
      (async function* () {
        for (let i = 0; i < size / chunk; i++) yield Buffer.alloc(chunk, i & 0xff); // a fresh buffer each time: a leak would show
      })(),
    );
  const source = memorySource(
    { 'checkpoint-app.tar': Buffer.alloc(0) },
    { sizes: { 'checkpoint-app.tar': size }, streams: { 'checkpoint-app.tar': generated } },
  );
  global.gc?.();
  const before = process.memoryUsage.rss();
  let peak = before;
  let total = 0;
  let n = 0;
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      total += c.length;
      if (++n % 64 === 0) peak = Math.max(peak, process.memoryUsage.rss());
      setImmediate(cb); // slower than the generator
    },
  });
  await pipeline(bundleTar(source, { root: 'r', extras: [] }), sink);
  t.equal(total, 3 * 512 + size + 1024, 'two directory headers, the file header, its bytes, the end');
  t.ok(peak - before < 64 * 1024 * 1024, `RSS grew ${Math.round((peak - before) / 1024 / 1024)} MiB for a 256 MiB file`);
});

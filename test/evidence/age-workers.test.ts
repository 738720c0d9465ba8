import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { RUN_CHUNKS, type AgeStreamOptions } from '../../src/evidence/age/age-chunk-stream.js';
import { createAgeDecryptStream } from '../../src/evidence/age/age-decrypt.js';
import { createAgeEncryptStream } from '../../src/evidence/age/age-encrypt.js';
import { CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, PAYLOAD_NONCE_SIZE, TAG_SIZE, headerLength } from '../../src/evidence/age/age-format.js';
import { formatAgeIdentityFile, generateAgeIdentity, parseAgeIdentity } from '../../src/evidence/age/age-keys.js';
import { ageMissing, generated, run, through } from '../helpers/age-cli.js';

/*
 * The worker-thread path of the age streams. Runs of 16 chunks (1 MiB) go to workers only when
 * there are some (by default one, given three CPUs), past `workersAfter` bytes and once a worker
 * is up; these tests force them there from the first run (W), so that small files exercise it on
 * any machine, and check that the bytes, the errors and the threads' lifetimes are those of the
 * inline path. Under the test loader a worker takes a second or two
 * to start (it loads a TypeScript compiler), hence few streams, run side by side.
 */

const W: AgeStreamOptions = { workers: 1, workersAfter: 0, waitForWorkers: true };
const RUN = RUN_CHUNKS * CHUNK_SIZE;
const skipAge = ageMissing();
const noProc = existsSync('/proc/self/task') ? undefined : 'counts threads in /proc/self/task (Linux)';
const alice = generateAgeIdentity();
const aliceId = parseAgeIdentity(alice.secretKey);

const threads = (): number => readdirSync('/proc/self/task').length;

function flip(file: Buffer, at: number): Buffer {
  const copy = Buffer.from(file);
  copy[at] = (copy[at] as number) ^ 0x01;
  return copy;
}

t.test('workers seal and open runs that the age tool reads and writes, around run boundaries', { skip: skipAge }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-age-workers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'alice.txt');
  await writeFile(keyFile, formatAgeIdentityFile(alice.secretKey));
  const sizes = [RUN + 1, 2 * RUN, 3 * RUN + CHUNK_SIZE + 7];
  await Promise.all(
    sizes.map(async (size) => {
      const plaintext = randomBytes(size);
      const ours = await through(createAgeEncryptStream([alice.recipient], W), plaintext);
      t.error(ours.error);
      const chunks = Math.ceil(size / CHUNK_SIZE);
      t.equal(ours.output.length, (headerLength(ours.output) as number) + PAYLOAD_NONCE_SIZE + size + chunks * TAG_SIZE, `${size} bytes: ${chunks} chunks`);
      const byAge = await run('age', ['-d', '-i', keyFile], ours.output);
      t.equal(byAge.code, 0, `${size} bytes: age -d accepts what the workers sealed ${byAge.stderr}`);
      t.ok(byAge.stdout.equals(plaintext), `${size} bytes: age -d gives them back`);
      const theirs = await run('age', ['-e', '-r', alice.recipient], plaintext);
      const back = await through(createAgeDecryptStream([aliceId], W), theirs.stdout);
      t.error(back.error, `${size} bytes of age -e`);
      t.ok(back.output.equals(plaintext), `${size} bytes: the workers open what age -e sealed`);
    }),
  );
});

t.test('a run that fails on a worker ends the stream with the inline error, after exactly the chunks before it', async (t) => {
  const plaintext = randomBytes(3 * RUN + 1000);
  const file = (await through(createAgeEncryptStream([alice.recipient], { workers: 0 }), plaintext)).output;
  const payload = (headerLength(file) as number) + PAYLOAD_NONCE_SIZE;
  // A 1 MiB plaintext ends with a full final chunk (15); junk after it fills a run that a worker opens.
  const exact = randomBytes(RUN);
  const exactFile = (await through(createAgeEncryptStream([alice.recipient], { workers: 0 }), exact)).output;
  const cases: Array<[string, Buffer, Buffer, object, number]> = [
    [
      'a flipped byte in chunk 20',
      flip(file, payload + 20 * ENCRYPTED_CHUNK_SIZE + 77),
      plaintext,
      { code: 'AGE_AUTH_FAILED', details: { chunk: 20, offset: payload + 20 * ENCRYPTED_CHUNK_SIZE } },
      20,
    ],
    [
      'data after a full final chunk',
      Buffer.concat([exactFile, randomBytes(2 * RUN)]),
      exact,
      { code: 'AGE_BAD_PAYLOAD', details: { reason: /after the final chunk/, chunk: 15 } },
      15,
    ],
    ['a file cut after chunk 31', file.subarray(0, payload + 32 * ENCRYPTED_CHUNK_SIZE), plaintext, { code: 'AGE_TRUNCATED', details: { chunk: 32 } }, 31],
  ];
  await Promise.all(
    cases.map(async ([what, altered, expected, error, good]) => {
      const inline = await through(createAgeDecryptStream([aliceId], { workers: 0 }), altered);
      const parallel = await through(createAgeDecryptStream([aliceId], W), altered);
      t.match(parallel.error, error, `${what}: on workers`);
      t.match(inline.error, error, `${what}: inline`);
      t.ok(parallel.output.equals(expected.subarray(0, good * CHUNK_SIZE)), `${what}: the ${good} chunks before it came out`);
      t.ok(inline.output.equals(parallel.output), `${what}: as inline`);
    }),
  );
});

t.test('worker threads live only while a large stream runs', { skip: noProc }, async (t) => {
  const base = threads();

  t.test('a file under workersAfter, or none at all, starts no thread', async (t) => {
    const one: AgeStreamOptions = { workers: 1, workersAfter: 4 * 1024 * 1024 };
    let most = threads();
    const sample = new Writable({
      write(_c, _e, done) {
        most = Math.max(most, threads());
        done();
      },
    });
    await pipeline(generated(3 * 1024 * 1024), createAgeEncryptStream([alice.recipient], one), createAgeDecryptStream([aliceId], one), sample);
    createAgeEncryptStream([alice.recipient], one).destroy();
    createAgeDecryptStream([aliceId], one).destroy();
    t.equal(most, base, '3 MiB encrypted and decrypted');
    t.equal(threads(), base);
  });

  t.test('a finished stream has stopped its workers', async (t) => {
    let during = 0;
    const sample = new Writable({
      write(_c, _e, done) {
        during = Math.max(during, threads());
        done();
      },
    });
    await pipeline(generated(3 * RUN), createAgeEncryptStream([alice.recipient], W), sample);
    t.ok(during > base, `${during - base} worker thread(s) while it ran`);
    t.equal(threads(), base, 'none after it finished');
  });

  t.test('a stream destroyed half-way stops its workers', async (t) => {
    const stream = createAgeEncryptStream([alice.recipient], W);
    const first = new Promise((resolve) => stream.once('data', resolve));
    stream.on('data', () => undefined);
    for (let i = 0; i < 4; i++) stream.write(randomBytes(RUN));
    await first;
    t.ok(threads() > base, 'a worker runs');
    const closed = new Promise((resolve) => stream.once('close', resolve));
    stream.destroy();
    await closed;
    t.equal(threads(), base, 'none after close');
  });

  t.test('a stream abandoned with idle workers does not keep the process alive', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'amber-age-abandon-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const script = join(dir, 'abandon.mjs');
    const src = (name: string) => JSON.stringify(new URL(`../../src/evidence/age/${name}`, import.meta.url).href);
    await writeFile(
      script,
      `const { createAgeEncryptStream } = await import(${src('age-encrypt.ts')});
const stream = createAgeEncryptStream([${JSON.stringify(alice.recipient)}], ${JSON.stringify(W)});
let out = 0;
stream.on('data', (d) => { out += d.length; if (out > ${RUN}) console.log('sealed on a worker; never ended'); });
for (let i = 0; i < 3; i++) stream.write(Buffer.alloc(${RUN}));
`,
    );
    const loader = process.execArgv.filter((a) => a.includes('typescript'));
    const child = spawn(process.execPath, [...loader, script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill(), 60_000);
    const code = await new Promise((resolve) => child.on('close', (c, signal) => resolve(c ?? signal)));
    clearTimeout(timer);
    t.match(stdout, /sealed on a worker/);
    t.equal(code, 0, 'the process exited by itself');
  });
});

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { createAgeDecryptStream } from '../../src/evidence/age/age-decrypt.js';
import { createAgeEncryptStream } from '../../src/evidence/age/age-encrypt.js';
import { CHUNK_SIZE, headerLength } from '../../src/evidence/age/age-format.js';
import { formatAgeIdentityFile, generateAgeIdentity, parseAgeIdentityFile, type AgeIdentity } from '../../src/evidence/age/age-keys.js';
import { ageMissing, generated, hashSink, run, through } from '../helpers/age-cli.js';

/*
 * The proof of the format: the real `age` tool (Debian package `age`) reads what we write and we
 * read what it writes. Sizes straddle the 64 KiB chunk boundary, where implementations disagree
 * when one of them is wrong.
 *
 * The large streamed case is 256 MiB by default; AMBER_LONG_TESTS=1 makes it 2 GiB + 1 byte
 * (past 2^31, an odd final chunk), still streamed and compared by SHA-256, never held in memory.
 */

const skip = ageMissing();
const LONG = process.env.AMBER_LONG_TESTS === '1';
const LARGE = LONG ? 2 * 1024 ** 3 + 1 : 256 * 1024 ** 2;
const SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * 1024 * 1024 + 7];

t.test('interoperates with the real age tool', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-age-interop-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  // One key made by age-keygen, one made by us: each side uses the other's too.
  const theirsFile = join(dir, 'theirs.txt');
  t.equal((await run('age-keygen', ['-o', theirsFile])).code, 0);
  const [theirs] = parseAgeIdentityFile(await readFile(theirsFile, 'utf8'), theirsFile) as [AgeIdentity];
  const ours = generateAgeIdentity();
  const oursFile = join(dir, 'ours.txt');
  await writeFile(oursFile, formatAgeIdentityFile(ours.secretKey));
  const [oursId] = parseAgeIdentityFile(await readFile(oursFile, 'utf8')) as [AgeIdentity];
  const recipientsFile = join(dir, 'recipients.txt');
  await writeFile(recipientsFile, `# team\n${theirs.recipient}\n# escrow\n${ours.recipient}\n`);

  t.test('age -d gives back exactly what amber encrypted', async (t) => {
    for (const size of SIZES) {
      const plaintext = randomBytes(size);
      const file = (await through(createAgeEncryptStream([theirs.recipient]), plaintext)).output;
      const r = await run('age', ['-d', '-i', theirsFile], file);
      t.equal(r.code, 0, `${size} bytes: age exits 0 ${r.stderr}`);
      t.ok(r.stdout.equals(plaintext), `${size} bytes come back byte for byte`);
    }
  });

  t.test('amber decrypts what age -e -r wrote, and writes files of the same length', async (t) => {
    for (const size of SIZES) {
      const plaintext = randomBytes(size);
      const r = await run('age', ['-e', '-r', theirs.recipient], plaintext);
      t.equal(r.code, 0, r.stderr);
      const back = await through(createAgeDecryptStream([theirs]), r.stdout);
      t.error(back.error, `${size} bytes`);
      t.ok(back.output.equals(plaintext), `${size} bytes come back byte for byte`);
      // Same header layout and the same chunking: a chunking disagreement shows as a length difference.
      const ourFile = (await through(createAgeEncryptStream([theirs.recipient]), plaintext)).output;
      t.equal(ourFile.length, r.stdout.length, `${size} bytes: same file length as age's`);
      t.equal(headerLength(ourFile), headerLength(r.stdout));
    }
  });

  t.test('age -R with two recipients: each identity decrypts alone', async (t) => {
    const plaintext = randomBytes(CHUNK_SIZE * 2 + 3);
    const r = await run('age', ['-e', '-R', recipientsFile], plaintext);
    t.equal(r.code, 0, r.stderr);
    for (const id of [theirs, oursId]) {
      const back = await through(createAgeDecryptStream([id]), r.stdout);
      t.error(back.error);
      t.ok(back.output.equals(plaintext), `${id === theirs ? 'the age-keygen key' : 'our key'} decrypts`);
    }
  });

  t.test('amber to two recipients: age decrypts with either key file', async (t) => {
    const plaintext = randomBytes(CHUNK_SIZE + 9);
    const file = (await through(createAgeEncryptStream([theirs.recipient, ours.recipient]), plaintext)).output;
    for (const key of [theirsFile, oursFile]) {
      const r = await run('age', ['-d', '-i', key], file);
      t.equal(r.code, 0, r.stderr);
      t.ok(r.stdout.equals(plaintext), `with ${key.endsWith('ours.txt') ? 'our' : 'the age-keygen'} identity file`);
    }
  });

  t.test('age refuses amber files for a wrong key, and amber refuses age files likewise', async (t) => {
    const plaintext = randomBytes(500);
    const file = (await through(createAgeEncryptStream([ours.recipient]), plaintext)).output;
    const r = await run('age', ['-d', '-i', theirsFile], file);
    t.not(r.code, 0);
    t.equal(r.stdout.length, 0);
    const theirsFileEnc = await run('age', ['-e', '-r', ours.recipient], plaintext);
    t.match((await through(createAgeDecryptStream([theirs]), theirsFileEnc.stdout)).error, { code: 'AGE_NO_IDENTITY_MATCHED' });
  });

  t.test('a tampered age-written file is refused without unauthenticated output', async (t) => {
    const plaintext = randomBytes(3 * CHUNK_SIZE);
    const file = (await run('age', ['-e', '-r', theirs.recipient], plaintext)).stdout;
    const last = Buffer.from(file);
    last[last.length - 20] = (last[last.length - 20] as number) ^ 0x80;
    const back = await through(createAgeDecryptStream([theirs]), last);
    t.match(back.error, { code: 'AGE_AUTH_FAILED', details: { chunk: 2 } });
    t.ok(back.output.equals(plaintext.subarray(0, 2 * CHUNK_SIZE)));
    t.not((await run('age', ['-d', '-i', theirsFile], last)).code, 0, 'age refuses it too');
  });

  t.test(`streams ${(LARGE / 2 ** 20).toFixed(0)} MiB both ways, compared by SHA-256${LONG ? '' : ' (AMBER_LONG_TESTS=1 for 2 GiB)'}`, async (t) => {
    t.test('amber encrypts → age -d', async (t) => {
      const sent = hashSink();
      const got = hashSink();
      const age = spawn('age', ['-d', '-i', theirsFile], { stdio: ['pipe', 'pipe', 'inherit'] });
      const exit = new Promise<number | null>((resolve) => age.on('close', resolve));
      await Promise.all([pipeline(generated(LARGE, 11), tee(sent), createAgeEncryptStream([theirs.recipient]), age.stdin), pipeline(age.stdout, got)]);
      t.equal(await exit, 0);
      t.same(got.result(), sent.result(), `${LARGE} bytes, same SHA-256`);
    });

    t.test('age -e -r → amber decrypts', async (t) => {
      const sent = hashSink();
      const got = hashSink();
      const age = spawn('age', ['-e', '-r', oursId.recipient], { stdio: ['pipe', 'pipe', 'inherit'] });
      const exit = new Promise<number | null>((resolve) => age.on('close', resolve));
      await Promise.all([pipeline(generated(LARGE, 12), tee(sent), age.stdin), pipeline(age.stdout, createAgeDecryptStream([oursId]), got)]);
      t.equal(await exit, 0);
      t.same(got.result(), sent.result(), `${LARGE} bytes, same SHA-256`);
    });
  });
});

/** A pass-through that also feeds `sink` (synchronous, so no extra buffering). */
function tee(sink: Writable): PassThrough {
  const p = new PassThrough();
  p.on('data', (c: Buffer) => sink.write(c));
  p.on('end', () => sink.end());
  return p;
}

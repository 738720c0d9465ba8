import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { AmberError } from '../../src/core/amber-error.js';
import type { AgeStreamOptions } from '../../src/evidence/age/age-chunk-stream.js';
import { createAgeDecryptStream } from '../../src/evidence/age/age-decrypt.js';
import { createAgeEncryptStream } from '../../src/evidence/age/age-encrypt.js';
import {
  CHUNK_SIZE,
  ENCRYPTED_CHUNK_SIZE,
  PAYLOAD_NONCE_SIZE,
  TAG_SIZE,
  formatHeader,
  headerLength,
  payloadKey,
  sealChunk,
  wrapFileKeyX25519,
  type AgeStanza,
} from '../../src/evidence/age/age-format.js';
import { formatAgeIdentityFile, generateAgeIdentity, parseAgeIdentity, parseAgeRecipient } from '../../src/evidence/age/age-keys.js';
import { ageMissing, generated, hashSink, run, through } from '../helpers/age-cli.js';

const skipAge = ageMissing();
const alice = generateAgeIdentity();
const bob = generateAgeIdentity();
const aliceId = parseAgeIdentity(alice.secretKey);
const bobId = parseAgeIdentity(bob.secretKey);

async function encrypt(plaintext: Buffer, recipients = [alice.recipient], pieces: readonly number[] = []): Promise<Buffer> {
  const { output, error } = await through(createAgeEncryptStream(recipients), plaintext, pieces);
  if (error) throw error;
  return output;
}

function decrypt(file: Buffer, identities = [aliceId], pieces: readonly number[] = []) {
  return through(createAgeDecryptStream(identities), file, pieces);
}

/** An age file built from parts, for shapes our encoder never writes. */
function craft(chunks: ReadonlyArray<{ plaintext: Buffer; last: boolean }>, extra: readonly AgeStanza[] = [], recipients = [alice.recipient]): Buffer {
  const fileKey = randomBytes(16);
  const stanzas = [...recipients.map((r) => wrapFileKeyX25519(fileKey, parseAgeRecipient(r))), ...extra];
  const nonce = randomBytes(PAYLOAD_NONCE_SIZE);
  const key = payloadKey(fileKey, nonce);
  return Buffer.concat([formatHeader(stanzas, fileKey), nonce, ...chunks.map((c, i) => sealChunk(key, i, c.last, c.plaintext))]);
}

function flip(file: Buffer, at: number): Buffer {
  const copy = Buffer.from(file);
  copy[at] = (copy[at] as number) ^ 0x01;
  return copy;
}

/** What the real `age -d` says of `file` with alice's key: the oracle for crafted files. */
let ageDir: string | undefined;
async function ageDecrypts(file: Buffer): Promise<{ ok: boolean; stdout: Buffer; stderr: string }> {
  ageDir ??= await mkdtemp(join(tmpdir(), 'amber-age-stream-'));
  const key = join(ageDir, 'alice.txt');
  await writeFile(key, formatAgeIdentityFile(alice.secretKey));
  const r = await run('age', ['-d', '-i', key], file);
  return { ok: r.code === 0, stdout: r.stdout, stderr: r.stderr };
}
t.teardown(() => (ageDir ? rm(ageDir, { recursive: true, force: true }) : undefined));

t.test('memory stays flat: 512 MiB through encrypt and decrypt in one pipeline, inline and on worker threads', async (t) => {
  const size = 512 * 1024 * 1024;
  const modes: Array<[string, AgeStreamOptions]> = [
    ['inline', { workers: 0 }],
    ['on a worker thread', { workers: 1, workersAfter: 0, waitForWorkers: true }],
  ];
  for (const [mode, options] of modes) {
    const source = generated(size, 7);
    const plainHash = hashSink();
    const tee = new PassThrough();
    tee.on('data', (c: Buffer) => plainHash.write(c));
    const out = hashSink();
    // The baseline is taken once 64 MiB came through: the worker threads are up by then (under the
    // test loader each carries a TypeScript compiler, tens of MiB that have nothing to do with size).
    let seen = 0;
    let base = 0;
    let peak = 0;
    const progress = new PassThrough();
    progress.on('data', (c: Buffer) => {
      seen += c.length;
      if (base === 0 && seen >= 64 * 1024 * 1024) base = peak = process.memoryUsage().rss;
    });
    const timer = setInterval(() => base > 0 && (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    await pipeline(source, tee, createAgeEncryptStream([alice.recipient], options), createAgeDecryptStream([aliceId], options), progress, out);
    clearInterval(timer);
    plainHash.end();
    t.equal(out.result().size, size, mode);
    t.equal(out.result().sha256, plainHash.result().sha256, mode);
    t.ok(
      peak - base < 96 * 1024 * 1024,
      `${mode}: RSS ${(base / 2 ** 20).toFixed(0)} MiB after 64 MiB, grew by ${((peak - base) / 2 ** 20).toFixed(1)} MiB over the other ${(size - 2 ** 26) / 2 ** 20} MiB`,
    );
  }
});

const SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE - 1, 2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 100];
const WRITE_PATTERNS: ReadonlyArray<readonly number[]> = [[], [1, 7, CHUNK_SIZE - 8, 3, CHUNK_SIZE, 100_000], Array.from({ length: 500 }, (_, i) => 997 + i)];

t.test('round-trips every size around the 64 KiB chunk boundary, whatever the write sizes', async (t) => {
  for (const size of SIZES) {
    const plaintext = randomBytes(size);
    for (const pieces of WRITE_PATTERNS) {
      const file = await encrypt(plaintext, [alice.recipient], pieces);
      const header = headerLength(file) as number;
      // An empty plaintext is one empty final chunk; n × 64 KiB ends with a full final chunk.
      const chunks = Math.max(1, Math.ceil(size / CHUNK_SIZE));
      t.equal(file.length, header + PAYLOAD_NONCE_SIZE + size + chunks * TAG_SIZE, `${size} bytes: ${chunks} chunk(s)`);
      const back = await decrypt(file, [aliceId], pieces);
      t.error(back.error);
      t.ok(back.output.equals(plaintext), `${size} bytes in ${pieces.length || 1} writes come back`);
    }
  }
});

t.test('each file has a fresh file key and nonce', async (t) => {
  const plaintext = Buffer.from('the same evidence twice');
  const [a, b] = await Promise.all([encrypt(plaintext), encrypt(plaintext)]);
  t.not(a.toString('hex'), b.toString('hex'));
  t.not(a.subarray(-TAG_SIZE - plaintext.length).toString('hex'), b.subarray(-TAG_SIZE - plaintext.length).toString('hex'));
});

t.test('several recipients get one stanza each, and any one identity decrypts alone', async (t) => {
  const plaintext = randomBytes(CHUNK_SIZE + 5);
  const file = await encrypt(plaintext, [alice.recipient, bob.recipient]);
  const header = file.subarray(0, headerLength(file)).toString('latin1');
  t.equal(header.match(/^-> X25519 [A-Za-z0-9+/]{43}\n[A-Za-z0-9+/]{43}\n/gm)?.length, 2);
  t.notMatch(header, alice.recipient, 'recipients are anonymous in the header');
  for (const id of [aliceId, bobId]) {
    const back = await decrypt(file, [id]);
    t.error(back.error);
    t.ok(back.output.equals(plaintext), `${id.recipient.slice(0, 12)}… decrypts`);
  }
  const both = await decrypt(file, [parseAgeIdentity(generateAgeIdentity().secretKey), bobId]);
  t.ok(both.output.equals(plaintext), 'the first identity that matches is used');
});

t.test('an identity that matches no stanza is AGE_NO_IDENTITY_MATCHED and emits nothing', async (t) => {
  const file = await encrypt(randomBytes(1000), [alice.recipient, bob.recipient]);
  const stranger = parseAgeIdentity(generateAgeIdentity().secretKey);
  const { output, error } = await decrypt(file, [stranger]);
  t.match(error, { code: 'AGE_NO_IDENTITY_MATCHED', details: { stanzas: ['X25519', 'X25519'], identities: [stranger.recipient] } });
  t.equal(output.length, 0);
  t.match((await decrypt(file, [])).error, { code: 'AGE_NO_IDENTITY_MATCHED' }, 'no identity at all');
});

t.test('an altered header is refused before any plaintext', async (t) => {
  // Stanzas are written in recipient order: lines 1-2 are alice's, 3-4 bob's, 5 the MAC.
  const file = await encrypt(randomBytes(2 * CHUNK_SIZE), [alice.recipient, bob.recipient]);
  const lines = file.subarray(0, headerLength(file)).toString('latin1').split('\n');
  t.match(lines[5], /^--- /);
  const at = (line: number, col: number) => lines.slice(0, line).reduce((n, l) => n + l.length + 1, 0) + col;
  const replace = (pos: number, byte: number) => {
    const c = Buffer.from(file);
    c[pos] = c[pos] === byte ? byte + 1 : byte;
    return c;
  };
  const A = 0x41; // another base64 character keeps the header's form valid: only cryptography notices
  const cases: Array<[string, Buffer, string]> = [
    ['the version line', flip(file, 3), 'AGE_BAD_HEADER'],
    ['the MAC', replace(at(5, 10), A), 'AGE_BAD_HEADER'],
    ["bob's stanza body, decrypting as alice (only the MAC binds it)", replace(at(4, 5), A), 'AGE_BAD_HEADER'],
    ["alice's stanza body (indistinguishable from a wrong key)", replace(at(2, 5), A), 'AGE_NO_IDENTITY_MATCHED'],
    ["alice's ephemeral share", replace(at(1, 12), A), 'AGE_NO_IDENTITY_MATCHED'],
    ['a non-ASCII byte in a stanza type', replace(at(3, 4), 0xc3), 'AGE_BAD_HEADER'],
    ['a padded stanza body', Buffer.concat([file.subarray(0, at(2, 43)), Buffer.from('='), file.subarray(at(2, 43))]), 'AGE_BAD_HEADER'],
  ];
  for (const [what, altered, code] of cases) {
    for (const pieces of [[], [1, 2, 3, 5, 8, 13, 21, 34]]) {
      const { output, error } = await decrypt(altered, [aliceId], pieces);
      t.match(error, { code }, what);
      t.equal(output.length, 0, `${what}: nothing emitted`);
    }
  }
});

t.test('a flipped payload byte fails that chunk, and only the chunks before it are emitted', async (t) => {
  const plaintext = randomBytes(2 * CHUNK_SIZE + 1000);
  const file = await encrypt(plaintext);
  const payload = (headerLength(file) as number) + PAYLOAD_NONCE_SIZE;
  const cases: Array<[string, number, number]> = [
    ['the payload nonce', payload - 3, 0],
    ['chunk 0', payload + 10, 0],
    ['chunk 1 (a middle chunk)', payload + ENCRYPTED_CHUNK_SIZE + 40_000, 1],
    ["chunk 1's tag", payload + 2 * ENCRYPTED_CHUNK_SIZE - 1, 1],
    ['the final chunk', payload + 2 * ENCRYPTED_CHUNK_SIZE + 500, 2],
    ["the final chunk's tag", file.length - 1, 2],
  ];
  for (const [what, pos, chunk] of cases) {
    for (const pieces of WRITE_PATTERNS) {
      const { output, error } = await decrypt(flip(file, pos), [aliceId], pieces);
      t.match(error, { code: 'AGE_AUTH_FAILED', details: { chunk, offset: payload + chunk * ENCRYPTED_CHUNK_SIZE } }, what);
      t.ok(output.equals(plaintext.subarray(0, chunk * CHUNK_SIZE)), `${what}: exactly the ${chunk} authenticated chunk(s) came out`);
    }
  }
});

t.test('a file cut short is AGE_TRUNCATED, wherever it is cut on a boundary', async (t) => {
  const plaintext = randomBytes(3 * CHUNK_SIZE);
  const file = await encrypt(plaintext);
  const header = headerLength(file) as number;
  const payload = header + PAYLOAD_NONCE_SIZE;
  const cuts: Array<[string, number]> = [
    ['nothing at all', 0],
    ['inside the version line', 10],
    ['inside the header', header - 5],
    ['right after the header', header],
    ['inside the nonce', header + 7],
    ['right after the nonce', payload],
    ['after chunk 0', payload + ENCRYPTED_CHUNK_SIZE],
    ['after chunk 1', payload + 2 * ENCRYPTED_CHUNK_SIZE],
    ['a few bytes into a chunk', payload + ENCRYPTED_CHUNK_SIZE + 5],
  ];
  for (const [what, len] of cuts) {
    const { output, error } = await decrypt(file.subarray(0, len));
    t.match(error, { code: 'AGE_TRUNCATED' }, what);
    t.ok(plaintext.subarray(0, output.length).equals(output), `${what}: only authenticated plaintext came out`);
    t.ok(output.length < plaintext.length);
  }
  // Cut inside a chunk, the rest of the chunk is simply missing: authentication is what fails.
  const mid = await decrypt(file.subarray(0, payload + ENCRYPTED_CHUNK_SIZE + 30_000));
  t.match(mid.error, { code: 'AGE_AUTH_FAILED', details: { chunk: 1 } });
  t.equal(mid.output.length, CHUNK_SIZE);
});

t.test('data after the final chunk is refused', async (t) => {
  const full = await encrypt(randomBytes(CHUNK_SIZE));
  const r = await decrypt(Buffer.concat([full, Buffer.from('more')]));
  t.match(r.error, { code: 'AGE_BAD_PAYLOAD', details: { reason: /after the final chunk/ } });
  t.equal(r.output.length, 0);
  // After a short final chunk the boundary is implicit: the longer "chunk" fails authentication.
  const short = await encrypt(randomBytes(100));
  t.match((await decrypt(Buffer.concat([short, Buffer.from('more')]))).error, { code: 'AGE_AUTH_FAILED', details: { chunk: 0 } });
});

t.test('payload shapes that break the STREAM rules are refused, as the age tool refuses them', async (t) => {
  const a = randomBytes(CHUNK_SIZE);
  const b = randomBytes(1234);
  const shapes: Array<[string, Array<{ plaintext: Buffer; last: boolean }>, string | undefined]> = [
    ['a full final chunk (valid)', [{ plaintext: a, last: true }], undefined],
    ['an empty only chunk (valid)', [{ plaintext: Buffer.alloc(0), last: true }], undefined],
    [
      'an empty final chunk after a full one',
      [
        { plaintext: a, last: false },
        { plaintext: Buffer.alloc(0), last: true },
      ],
      'AGE_BAD_PAYLOAD',
    ],
    [
      'a short final chunk not marked last',
      [
        { plaintext: a, last: false },
        { plaintext: b, last: false },
      ],
      'AGE_AUTH_FAILED',
    ],
    [
      'a full final chunk not marked last',
      [
        { plaintext: a, last: false },
        { plaintext: a, last: false },
      ],
      'AGE_TRUNCATED',
    ],
    [
      'a chunk marked last before more chunks',
      [
        { plaintext: a, last: true },
        { plaintext: b, last: true },
      ],
      'AGE_BAD_PAYLOAD',
    ],
    [
      'a short chunk before the final one',
      [
        { plaintext: b, last: false },
        { plaintext: b, last: true },
      ],
      'AGE_AUTH_FAILED',
    ],
  ];
  for (const [what, chunks, code] of shapes) {
    const file = craft(chunks);
    const { output, error } = await decrypt(file);
    const expected = Buffer.concat(chunks.map((c) => c.plaintext));
    if (code === undefined) {
      t.error(error, what);
      t.ok(output.equals(expected), `${what}: decrypts`);
    } else {
      t.match(error, { code }, what);
      t.ok(output.length <= CHUNK_SIZE && expected.subarray(0, output.length).equals(output), `${what}: nothing unauthenticated`);
    }
    if (!skipAge) t.equal((await ageDecrypts(file)).ok, code === undefined, `${what}: age ${code === undefined ? 'accepts' : 'refuses'} it too`);
  }
});

t.test('stanzas of other types are skipped, but scrypt may not be mixed with others', async (t) => {
  const plaintext = randomBytes(3000);
  const chunks = [{ plaintext, last: true }];
  const ssh: AgeStanza = { type: 'ssh-ed25519', args: ['Xyz12A', 'c29tZSBlcGhlbWVyYWwgc2hhcmU'], body: randomBytes(32) };
  const grease: AgeStanza = { type: 'x-grease', args: ['a', 'b!'], body: randomBytes(48) }; // 64 base64 columns: a full line, then an empty one
  const long: AgeStanza = { type: 'example.com/enigma', args: [], body: randomBytes(200) };
  const scrypt: AgeStanza = { type: 'scrypt', args: ['c2FsdHNhbHRzYWx0c2FsdA', '18'], body: randomBytes(32) };

  const mixed = craft(chunks, [ssh, grease, long]);
  const header = mixed.subarray(0, headerLength(mixed)).toString('latin1');
  t.match(header, /\n-> x-grease a b!\n[A-Za-z0-9+/]{64}\n\n/, 'a 64-column body ends with an empty line');
  t.match(header, /\n-> example\.com\/enigma\n([A-Za-z0-9+/]{64}\n){4}[A-Za-z0-9+/]{11}\n/, 'a 200-byte body wraps at 64 columns');
  const ok = await decrypt(mixed);
  t.error(ok.error);
  t.ok(ok.output.equals(plaintext));
  const cases: Array<[string, Buffer, string]> = [
    ['scrypt with an X25519 stanza', craft(chunks, [scrypt]), 'AGE_BAD_HEADER'],
    ['scrypt alone', craft(chunks, [scrypt], []), 'AGE_NO_IDENTITY_MATCHED'],
    ['an X25519 stanza with three arguments', craft(chunks, [{ type: 'X25519', args: ['x', 'y'], body: randomBytes(32) }]), 'AGE_BAD_HEADER'],
    ['an X25519 stanza with a 33-byte body', craft(chunks, [{ type: 'X25519', args: [ssh.args[1] as string], body: randomBytes(33) }]), 'AGE_BAD_HEADER'],
    ['an X25519 share of 5 bytes', craft(chunks, [{ type: 'X25519', args: ['c2hvcnQ'], body: randomBytes(32) }]), 'AGE_BAD_HEADER'],
    [
      'a low-order X25519 share (all-zero shared secret)',
      craft(chunks, [{ type: 'X25519', args: ['A'.repeat(43)], body: randomBytes(32) }], []),
      'AGE_BAD_HEADER',
    ],
  ];
  for (const [what, file, code] of cases) t.match((await decrypt(file)).error, { code }, what);
  if (!skipAge) {
    const age = await ageDecrypts(mixed);
    t.ok(age.ok && age.stdout.equals(plaintext), 'age skips the unknown stanzas too');
    // The age CLI (1.1) enforces scrypt-alone only when it holds a passphrase identity, and no
    // age encoder writes such a header; we follow the spec and the age testkit (scrypt_and_x25519:
    // header failure) and refuse it whatever the identity.
  }
});

t.test('input that is not an age v1 file is refused from its first bytes', async (t) => {
  const tar = Buffer.alloc(10 * 1024 * 1024);
  tar.write('checkpoint/inventory.img', 0);
  t.match((await decrypt(tar)).error, { code: 'AGE_BAD_HEADER', details: { reason: /does not start with/ } });
  const armored = Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+\n-----END AGE ENCRYPTED FILE-----\n');
  t.match((await decrypt(armored)).error, { code: 'AGE_BAD_HEADER' });
  t.match((await decrypt(Buffer.from('age-encryption.org/v2\n-> X25519 abc\n\n--- x\n'))).error, { code: 'AGE_BAD_HEADER' }, 'another version');
  const endless = Buffer.concat([Buffer.from('age-encryption.org/v1\n'), Buffer.alloc(1100 * 1024, 0x41)]);
  t.match((await decrypt(endless)).error, { code: 'AGE_BAD_HEADER', details: { reason: /no end of header/ } });
});

t.test('failures are stream errors that a pipeline rejects with, never exceptions', async (t) => {
  const stream = createAgeDecryptStream([aliceId]);
  const seen = new Promise<unknown>((resolve) => stream.once('error', resolve));
  stream.write(Buffer.from('GET / HTTP/1.1\r\n'));
  stream.write(Buffer.from('more after the error'));
  t.type(await seen, AmberError);
  t.throws(() => createAgeEncryptStream([]), { code: 'AGE_BAD_RECIPIENT' });
  t.throws(() => createAgeEncryptStream([alice.recipient, 'age1typo']), { code: 'AGE_BAD_RECIPIENT', details: { recipient: 'age1typo' } });
});

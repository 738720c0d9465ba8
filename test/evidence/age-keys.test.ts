import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  ageRecipientOf,
  bech32Decode,
  bech32Encode,
  formatAgeIdentityFile,
  generateAgeIdentity,
  normalizeAgeRecipient,
  parseAgeIdentity,
  parseAgeIdentityFile,
  parseAgeRecipient,
  parseAgeRecipientsFile,
  readAgeIdentityFile,
} from '../../src/evidence/age/age-keys.js';
import { thrown } from '../helpers/amber-errors.js';
import { ageMissing, run } from '../helpers/age-cli.js';

const skipAge = ageMissing();

// BIP-173's own test vectors (https://github.com/bitcoin/bips/blob/master/bip-0173.mediawiki).
const BIP173_VALID = [
  'A12UEL5L',
  'a12uel5l',
  'an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs',
  'abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw',
  `11${'q'.repeat(82)}c8247j`, // 90 characters, BIP-173's length limit
  'split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w',
  '?1ezyfcl',
];
const BIP173_INVALID = [
  '\x201nwldj5', // HRP character out of range
  '\x7f1axkwrx',
  'pzry9x0s0muk', // no separator
  '1pzry9x0s0muk', // empty HRP
  'x1b4n0q5v', // invalid data character
  'li1dgmt3', // checksum too short
  'de1lg7wt\xff', // invalid character in checksum
  'A1G7SGD8', // checksum computed with an upper-case HRP
  '10a06t8', // empty HRP
  '1qzzfhee',
  'a12UEL5L', // mixed case
];

// The X25519 example of the age spec (c2sp.org/age), checked against `age-keygen -y`.
const SPEC_IDENTITY = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';
const SPEC_RECIPIENT = 'age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj';

t.test('bech32 accepts every valid BIP-173 vector and re-encodes it to the lower-case form', async (t) => {
  for (const s of BIP173_VALID) {
    const d = bech32Decode(s);
    if ('error' in d) {
      t.fail(`${s}: ${d.error}`);
      continue;
    }
    t.equal(bech32Encode(d.hrp, d.bytes), s.toLowerCase(), s);
  }
});

t.test('bech32 rejects every invalid BIP-173 vector with a reason', async (t) => {
  for (const s of BIP173_INVALID) t.match(bech32Decode(s), { error: /./ }, JSON.stringify(s));
});

t.test('bech32 round-trips arbitrary bytes, and any single-character change breaks the checksum', async (t) => {
  for (const len of [0, 1, 31, 32, 33, 100]) {
    const bytes = Buffer.from(Array.from({ length: len }, (_, i) => (i * 37 + len) & 0xff));
    const s = bech32Encode('age', bytes);
    const back = bech32Decode(s);
    t.same('bytes' in back ? back.bytes : back, bytes, `${len} bytes`);
    const i = s.length - 3;
    const changed = s.slice(0, i) + (s[i] === 'q' ? 'p' : 'q') + s.slice(i + 1);
    t.match(bech32Decode(changed), { error: 'checksum mismatch' });
  }
});

t.test('derives the age spec example recipient from its identity', async (t) => {
  t.equal(ageRecipientOf(SPEC_IDENTITY), SPEC_RECIPIENT);
  t.equal(parseAgeIdentity(SPEC_IDENTITY.toLowerCase()).recipient, SPEC_RECIPIENT, 'an all-lower-case identity is the same key');
  t.equal(parseAgeRecipient(SPEC_RECIPIENT).length, 32);
  t.equal(normalizeAgeRecipient(SPEC_RECIPIENT.toUpperCase()), SPEC_RECIPIENT, 'all upper case is valid bech32');
});

t.test('refuses malformed recipients with the reason', async (t) => {
  const flipped = SPEC_RECIPIENT.slice(0, -1) + (SPEC_RECIPIENT.endsWith('q') ? 'p' : 'q');
  t.match(
    thrown(() => parseAgeRecipient(flipped)),
    { code: 'AGE_BAD_RECIPIENT', details: { reason: 'checksum mismatch' } },
  );
  const mixed = `AGE1${SPEC_RECIPIENT.slice(4)}`;
  t.match(
    thrown(() => parseAgeRecipient(mixed)),
    { code: 'AGE_BAD_RECIPIENT', details: { reason: /mixed/ } },
  );
  t.match(
    thrown(() => parseAgeRecipient(SPEC_IDENTITY)),
    { code: 'AGE_BAD_RECIPIENT', details: { reason: /not an X25519 recipient/ } },
  );
  const pq = bech32Encode('age1pq', Buffer.alloc(32, 7));
  t.match(
    thrown(() => parseAgeRecipient(pq)),
    { code: 'AGE_BAD_RECIPIENT', details: { reason: /age1pq/ } },
  );
  t.match(
    thrown(() => parseAgeRecipient(bech32Encode('age', Buffer.alloc(31)))),
    { code: 'AGE_BAD_RECIPIENT', details: { reason: '31 bytes, not 32' } },
  );
});

t.test('refuses malformed identities without repeating the key text', async (t) => {
  const typo = SPEC_IDENTITY.slice(0, 30) + (SPEC_IDENTITY[30] === 'Q' ? 'P' : 'Q') + SPEC_IDENTITY.slice(31);
  const e = thrown(() => parseAgeIdentity(typo));
  t.match(e, { code: 'AGE_BAD_IDENTITY', details: { reason: 'checksum mismatch' } });
  t.notMatch(e.message, SPEC_IDENTITY.slice(16, 40), 'the message does not carry the key');
  t.match(
    thrown(() => parseAgeIdentity(SPEC_RECIPIENT)),
    { code: 'AGE_BAD_IDENTITY', details: { reason: /not an X25519 identity/ } },
  );
  const pq = bech32Encode('AGE-SECRET-KEY-PQ-', Buffer.alloc(32, 1)).toUpperCase();
  t.match(
    thrown(() => parseAgeIdentity(pq)),
    { code: 'AGE_BAD_IDENTITY', details: { reason: /AGE-SECRET-KEY-PQ-/ } },
  );
});

t.test('reads an identity file with comments, blank lines, CRLF and several keys', async (t) => {
  const a = generateAgeIdentity();
  const b = generateAgeIdentity();
  const text = `${formatAgeIdentityFile(a.secretKey, new Date(Date.UTC(2026, 10, 28, 12, 0, 0)))}\r\n# another one\r\n${b.secretKey}\r\n`;
  t.match(text, /^# created: 2026-11-28T12:00:00Z\n# public key: age1/);
  const ids = parseAgeIdentityFile(text);
  t.same(
    ids.map((i) => i.recipient),
    [a.recipient, b.recipient],
  );
  t.notMatch(JSON.stringify(ids), a.secretKey, 'an identity does not serialise its secret');
});

t.test('an identity file error names the file and line', async (t) => {
  const text = `# created: now\n${generateAgeIdentity().secretKey}\n${SPEC_RECIPIENT}\n`;
  t.match(
    thrown(() => parseAgeIdentityFile(text, 'keys.txt')),
    { code: 'AGE_BAD_IDENTITY', details: { file: 'keys.txt', line: 3 } },
  );
  t.match(
    thrown(() => parseAgeIdentityFile('# only a comment\n\n', 'empty.txt')),
    { code: 'AGE_BAD_IDENTITY', details: { file: 'empty.txt', reason: /no AGE-SECRET-KEY/ } },
  );
});

t.test('an unreadable identity file is AGE_BAD_IDENTITY naming the path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-age-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const missing = join(dir, 'missing.txt');
  await t.rejects(readAgeIdentityFile(missing), { code: 'AGE_BAD_IDENTITY', details: { file: missing, reason: 'ENOENT' } });
  const ok = join(dir, 'key.txt');
  const id = generateAgeIdentity();
  await writeFile(ok, formatAgeIdentityFile(id.secretKey));
  t.same(
    (await readAgeIdentityFile(ok)).map((i) => i.recipient),
    [id.recipient],
  );
});

t.test('reads a recipients file as age -R does, canonicalising each recipient', async (t) => {
  const a = generateAgeIdentity().recipient;
  const b = generateAgeIdentity().recipient;
  t.same(parseAgeRecipientsFile(`# team\n${a}\r\n\n  ${b.toUpperCase()}  \n`), [a, b]);
  t.match(
    thrown(() => parseAgeRecipientsFile(`${a}\nage1nope\n`, 'r.txt')),
    { code: 'AGE_BAD_RECIPIENT', details: { file: 'r.txt', line: 2 } },
  );
  t.match(
    thrown(() => parseAgeRecipientsFile('# none\n', 'r.txt')),
    { code: 'AGE_BAD_RECIPIENT', details: { reason: /no recipient/ } },
  );
});

t.test('generated identities are distinct and encode as age-keygen writes them', async (t) => {
  const a = generateAgeIdentity();
  const b = generateAgeIdentity();
  t.not(a.secretKey, b.secretKey);
  t.match(a.secretKey, /^AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}$/);
  t.match(a.recipient, /^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/);
});

t.test('keys agree with the real age-keygen', { skip: skipAge }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-age-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  t.test('the spec example', async (t) => {
    const f = join(dir, 'spec.txt');
    await writeFile(f, `${SPEC_IDENTITY}\n`);
    t.equal((await run('age-keygen', ['-y', f])).stdout.toString().trim(), SPEC_RECIPIENT);
  });

  t.test('age-keygen identity files are read, their public keys derived alike', async (t) => {
    const files = [join(dir, 'k1.txt'), join(dir, 'k2.txt')];
    for (const f of files) t.equal((await run('age-keygen', ['-o', f])).code, 0);
    const texts = await Promise.all(files.map((f) => readFile(f, 'utf8')));
    const both = parseAgeIdentityFile(texts.join(''));
    t.equal(both.length, 2, 'two keys in one file');
    for (const [i, f] of files.entries()) {
      const fromTool = (await run('age-keygen', ['-y', f])).stdout.toString().trim();
      t.equal(both[i]?.recipient, fromTool);
      t.equal(/# public key: (\S+)/.exec(texts[i] as string)?.[1], fromTool);
    }
  });

  t.test('age-keygen derives the same recipient from identity files we write', async (t) => {
    for (let i = 0; i < 3; i++) {
      const id = generateAgeIdentity();
      const f = join(dir, `ours-${i}.txt`);
      await writeFile(f, formatAgeIdentityFile(id.secretKey));
      t.equal((await run('age-keygen', ['-y', f])).stdout.toString().trim(), id.recipient);
    }
  });
});

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { sha256Hex } from '../../src/core/canonical-json.js';
import { parseRfc3339 } from '../../src/core/rfc3339.js';
import { flattenFields, isRfc3339 } from '../../src/intake/intake-result.js';

t.test("sha256Hex (one-shot crypto.hash where Node has it) is a Hash object's sha256 of any string or bytes", async (t) => {
  const viaHash = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (s) => sha256Hex(s) === viaHash(s)),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => sha256Hex(b) === viaHash(b)),
    { numRuns: 200 },
  );
  t.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

t.test('flattenFields: scalars as they are, nested values as JSON text (property)', async (t) => {
  const value = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 }));
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 8 }), value, { maxKeys: 20 }), (fields) => {
      const want = Object.fromEntries(
        Object.entries(fields).map(([k, v]) => [k, v === null || ['string', 'number', 'boolean'].includes(typeof v) ? v : JSON.stringify(v)]),
      );
      return JSON.stringify(flattenFields(fields)) === JSON.stringify(want);
    }),
    { numRuns: 500 },
  );
  const scalars = { a: 'x', b: 1, c: null, d: false };
  t.equal(flattenFields(scalars), scalars, 'all scalars: the same object, no copy');
  const nested = { a: 'x', b: { c: 1 } };
  t.not(flattenFields(nested), nested);
  t.same(flattenFields(nested), { a: 'x', b: '{"c":1}' });
  t.same(nested, { a: 'x', b: { c: 1 } }, 'the input is left alone');
});

t.test('isRfc3339 accepts exactly what parseRfc3339 parses (property)', async (t) => {
  const d = (n: number) => fc.integer({ min: 0, max: 10 ** n - 1 }).map((x) => String(x).padStart(n, '0'));
  /** Mostly plausible values (so many stamps are valid), some edge cases, some random digits. */
  const part = (n: number, min: number, max: number, edges: string[]) =>
    fc.oneof(
      { arbitrary: fc.integer({ min, max }).map((x) => String(x).padStart(n, '0')), weight: 8 },
      { arbitrary: fc.constantFrom(...edges), weight: 2 },
      { arbitrary: d(n), weight: 1 },
    );
  const stamp = fc
    .tuple(
      part(4, 1970, 2100, ['0000', '0004', '0099', '0100', '1900', '2000', '2024', '2100']),
      part(2, 1, 12, ['02', '13', '00']),
      part(2, 1, 28, ['29', '30', '31', '00', '32']),
      fc.constantFrom('T', 'T', 'T', 't', ' ', 'x'),
      part(2, 0, 23, ['23', '24']),
      part(2, 0, 59, ['59', '60']),
      part(2, 0, 59, ['59', '60', '61']),
      fc.oneof(
        fc.constant(''),
        fc.integer({ min: 1, max: 10 }).chain((n) => d(n).map((x) => `.${x}`)),
      ),
      fc.oneof(
        { arbitrary: fc.constantFrom('Z', 'z', '+00:00', '-23:59', '+24:00', '+05:30', '+99:99', 'Q', ''), weight: 3 },
        { arbitrary: fc.tuple(fc.constantFrom('+', '-'), d(2), d(2)).map(([sign, h, m]) => `${sign}${h}:${m}`), weight: 1 },
      ),
    )
    .map(([y, mo, da, sep, h, mi, s, frac, zone]) => `${y}-${mo}-${da}${sep}${h}:${mi}:${s}${frac}${zone}`);
  let valid = 0;
  fc.assert(
    fc.property(fc.oneof({ arbitrary: stamp, weight: 9 }, fc.string({ maxLength: 40 })), (text) => {
      const want = parseRfc3339(text) !== undefined;
      if (want) valid++;
      return isRfc3339(text) === want;
    }),
    { numRuns: 5000 },
  );
  for (const text of [
    '2025-03-14T09:26:41.512873014Z',
    '2024-02-29T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '0000-02-29T00:00:00Z',
    '2026-11-28 10:00:00+01:00',
  ]) {
    t.equal(isRfc3339(text), parseRfc3339(text) !== undefined, text);
  }
  t.ok(valid > 500, `${valid} of the generated stamps were valid times`);
});

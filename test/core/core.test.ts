import t from 'tap';
import { Compile } from 'typebox/compile';
import Type from 'typebox';
import { canonicalJson, sha256Hex } from '../../src/core/canonical-json.js';
import { captureKeys, planCapture, type Decision } from '../../src/core/decision.js';
import { signalDigest, type Signal } from '../../src/core/signal.js';
import { isCaptureId, newCaptureId } from '../../src/core/capture-id.js';
import { parseDuration } from '../../src/core/duration.js';
import { bareContainerID, isValidName } from '../../src/core/kube-names.js';
import { parseRfc3339 } from '../../src/core/rfc3339.js';
import { describeSchemaErrors, type SchemaError } from '../../src/core/schema-problem.js';

t.test('parseDuration', async (t) => {
  t.test('reads every unit', async (t) => {
    t.equal(parseDuration('250ms'), 250);
    t.equal(parseDuration('30s'), 30_000);
    t.equal(parseDuration('15m'), 900_000);
    t.equal(parseDuration('1h'), 3_600_000);
    t.equal(parseDuration('7d'), 604_800_000);
    t.equal(parseDuration('0s'), 0);
  });

  t.test('adds up compound durations, whatever the order of the units', async (t) => {
    t.equal(parseDuration('1h30m'), 5_400_000);
    t.equal(parseDuration('1d2h3m4s5ms'), 86_400_000 + 7_200_000 + 180_000 + 4_000 + 5);
    t.equal(parseDuration('30m1h'), 5_400_000);
    t.equal(parseDuration('1m1m'), 120_000);
  });

  t.test('tells minutes from milliseconds', async (t) => {
    t.equal(parseDuration('5ms'), 5);
    t.equal(parseDuration('5m'), 300_000);
    t.equal(parseDuration('5m5ms'), 300_005);
  });

  t.test('rejects garbage, bare numbers, spaces, fractions, signs and unknown units', async (t) => {
    for (const bad of [
      '',
      '15',
      'm',
      '15 minutes',
      '15 m',
      ' 15m',
      '15m ',
      '1.5h',
      '-1h',
      '+1h',
      '1H',
      '1w',
      '1y',
      '1hx',
      'h1',
      '1h-30m',
      '15min',
      'Infinitym',
      'NaNs',
      '0x10s',
    ]) {
      t.equal(parseDuration(bad), undefined, JSON.stringify(bad));
    }
  });

  t.test('rejects text longer than 32 characters even when well-formed', async (t) => {
    const long = '1s'.repeat(17); // 34 chars
    t.equal(long.length, 34);
    t.equal(parseDuration(long), undefined);
    const ok = '1s'.repeat(16); // 32 chars
    t.equal(parseDuration(ok), 16_000);
  });

  t.test('rejects durations too large to count in safe integer milliseconds', async (t) => {
    t.equal(parseDuration('9007199254740991ms'), Number.MAX_SAFE_INTEGER);
    t.equal(parseDuration('9007199254740992ms'), undefined);
    t.equal(parseDuration('99999999999999999d'), undefined);
    t.equal(parseDuration('9007199254740991ms1ms'), undefined);
  });
});

t.test('isValidName', async (t) => {
  const label63 = 'a'.repeat(63);
  const label64 = 'a'.repeat(64);
  const hostile = [
    '',
    '../etc',
    '..',
    '.',
    'a/b',
    '/etc',
    'a\\b',
    'Shop',
    'shop\n',
    ' shop',
    'shop ',
    'chéckout',
    'shop\u0000',
    '-shop',
    'shop-',
    'sh_op',
    'sh op',
    'ｓｈｏｐ',
  ];

  t.test('accepts namespace and container names that are DNS-1123 labels up to 63 characters', async (t) => {
    for (const kind of ['namespace', 'container'] as const) {
      for (const ok of ['shop', 'kube-system', 'a', '0', 'a1-b2', label63]) t.ok(isValidName(kind, ok), `${kind} ${ok}`);
      t.notOk(isValidName(kind, label64), `${kind} of 64 characters`);
      t.notOk(isValidName(kind, 'a.b'), `${kind} with a dot`);
      for (const bad of hostile) t.notOk(isValidName(kind, bad), `${kind} ${JSON.stringify(bad)}`);
    }
  });

  t.test('accepts pod names that are DNS-1123 subdomains up to 253 characters', async (t) => {
    for (const ok of [
      'checkout-7d9f8b6c5-x2x9q',
      'a',
      'web-0',
      'a.b.c',
      'node-1.eu-west-1',
      'a'.repeat(253),
      `${label63}.${label63}.${label63}.${'b'.repeat(61)}`,
    ]) {
      t.ok(isValidName('pod', ok), `pod of length ${ok.length}`);
    }
    t.notOk(isValidName('pod', 'a'.repeat(254)), 'pod of 254 characters');
    for (const bad of [...hostile, 'a..b', '.a', 'a.', 'a.-b', 'a-.b']) t.notOk(isValidName('pod', bad), `pod ${JSON.stringify(bad)}`);
  });

  t.test('accepts only lower-case hyphenated UUIDs as pod UIDs', async (t) => {
    t.ok(isValidName('podUID', '5b0f7c1e-9a64-4d2b-8e3f-2c71a9d4b6e0'));
    t.notOk(isValidName('podUID', '5B0F7C1E-9A64-4D2B-8E3F-2C71A9D4B6E0'));
    t.notOk(isValidName('podUID', '5b0f7c1e9a644d2b8e3f2c71a9d4b6e0'));
    t.notOk(isValidName('podUID', '5b0f7c1e-9a64-4d2b-8e3f-2c71a9d4b6e'));
    t.notOk(isValidName('podUID', '5b0f7c1e-9a64-4d2b-8e3f-2c71a9d4b6e0x'));
    t.notOk(isValidName('podUID', '../5b0f7c1e-9a64-4d2b-8e3f-2c71a9d4b6'));
  });

  t.test("accepts Falco's 12-character and the runtime's 64-character hex container ids only", async (t) => {
    const full = '3f9c2a7b1d04dc5e3de2ab426607d3e1f8c6d170c21f3aab0f05ba526f91e88c';
    t.ok(isValidName('containerID', '3f9c2a7b1d04'));
    t.ok(isValidName('containerID', full));
    t.notOk(isValidName('containerID', full.slice(0, 13)), '13 chars');
    t.notOk(isValidName('containerID', full.slice(0, 63)), '63 chars');
    t.notOk(isValidName('containerID', `${full}0`), '65 chars');
    t.notOk(isValidName('containerID', full.toUpperCase()), 'upper case');
    t.notOk(isValidName('containerID', 'host'));
    t.notOk(isValidName('containerID', `containerd://${full}`), 'with runtime prefix');
    t.notOk(isValidName('containerID', '3f9c2a7b1d0g'), 'non-hex');
  });
});

t.test('bareContainerID strips the runtime prefix and leaves bare ids alone', async (t) => {
  const id = '3f9c2a7b1d04dc5e3de2ab426607d3e1f8c6d170c21f3aab0f05ba526f91e88c';
  t.equal(bareContainerID(`containerd://${id}`), id);
  t.equal(bareContainerID(`cri-o://${id}`), id);
  t.equal(bareContainerID(`docker://${id}`), id);
  t.equal(bareContainerID(id), id);
  t.equal(bareContainerID(''), '');
});

t.test('newCaptureId', async (t) => {
  t.test('makes 26-character ids that isCaptureId accepts and that are valid Kubernetes names', async (t) => {
    for (let i = 0; i < 50; i++) {
      const id = newCaptureId();
      t.equal(id.length, 26);
      t.ok(isCaptureId(id), id);
      t.ok(isValidName('pod', id), `${id} is a valid object name`);
      t.ok(isValidName('namespace', id), `${id} is a valid DNS label`);
      t.match(id, /^[0-9a-hjkmnp-tv-z]+$/, 'Crockford alphabet, no i l o u');
      if (t.passing() === false) break;
    }
  });

  t.test('encodes the millisecond time in the first ten characters', async (t) => {
    t.equal(newCaptureId(0).slice(0, 10), '0000000000');
    t.equal(newCaptureId(31).slice(0, 10), '000000000z');
    t.equal(newCaptureId(32).slice(0, 10), '0000000010');
    const now = Date.UTC(2025, 2, 14, 9, 26, 41, 512);
    t.equal(newCaptureId(now).slice(0, 10), newCaptureId(now).slice(0, 10));
  });

  t.test('sorts ids by the time they were made', async (t) => {
    const times = [0, 1, 31, 32, 1023, 1024, 1_700_000_000_000, 1_741_944_401_512, 1_741_944_401_513, 4_102_444_800_000];
    const shuffled = [...times].reverse();
    const ids = shuffled.map((ms) => ({ ms, id: newCaptureId(ms) }));
    const byId = [...ids].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((x) => x.ms);
    t.same(byId, times);
    // and ids made one millisecond apart compare in that order
    t.ok(newCaptureId(1_741_944_401_512) < newCaptureId(1_741_944_401_513));
  });

  t.test('gives two ids made in the same millisecond different random parts', async (t) => {
    const ids = new Set(Array.from({ length: 100 }, () => newCaptureId(1_741_944_401_512)));
    t.equal(ids.size, 100);
  });

  t.test('isCaptureId refuses anything else', async (t) => {
    const id = newCaptureId(1_741_944_401_512);
    t.notOk(isCaptureId(id.toUpperCase()));
    t.notOk(isCaptureId(id.slice(0, 25)));
    t.notOk(isCaptureId(`${id}0`));
    for (const c of ['i', 'l', 'o', 'u', '-', '/', '.']) t.notOk(isCaptureId(`${id.slice(0, 25)}${c}`), `with ${c}`);
    t.notOk(isCaptureId(`../${id.slice(3)}`));
    t.notOk(isCaptureId(''));
  });
});

t.test('parseRfc3339', async (t) => {
  t.test("reads Falco's nanosecond UTC times to the millisecond", async (t) => {
    t.equal(parseRfc3339('2025-03-14T09:26:41.512873014Z'), Date.UTC(2025, 2, 14, 9, 26, 41, 512));
    t.equal(parseRfc3339('2025-03-14T09:45:00Z'), Date.UTC(2025, 2, 14, 9, 45, 0));
    t.equal(parseRfc3339('2025-03-14T08:57:30.318Z'), Date.UTC(2025, 2, 14, 8, 57, 30, 318));
    t.equal(parseRfc3339('2025-03-14T09:26:41.5Z'), Date.UTC(2025, 2, 14, 9, 26, 41, 500));
  });

  t.test('applies numeric offsets', async (t) => {
    t.equal(parseRfc3339('2025-03-14T10:26:41+01:00'), Date.UTC(2025, 2, 14, 9, 26, 41));
    t.equal(parseRfc3339('2025-03-14T04:26:41.250-05:00'), Date.UTC(2025, 2, 14, 9, 26, 41, 250));
    t.equal(parseRfc3339('2025-03-14T14:56:41+05:30'), Date.UTC(2025, 2, 14, 9, 26, 41));
  });

  t.test('accepts the lower-case t/z and the space separator RFC 3339 allows', async (t) => {
    const want = Date.UTC(2025, 2, 14, 9, 26, 41);
    t.equal(parseRfc3339('2025-03-14t09:26:41z'), want);
    t.equal(parseRfc3339('2025-03-14 09:26:41Z'), want);
  });

  t.test('rejects out-of-range fields and text that is not RFC 3339, even what Date.parse would take', async (t) => {
    for (const bad of [
      '2024-13-01T00:00:00Z',
      '2024-00-10T00:00:00Z',
      '2024-01-32T00:00:00Z',
      '2024-01-01T25:00:00Z',
      '2024-01-01T00:60:00Z',
      '2024-01-01T00:00:00+25:00',
      // shapes Date.parse accepts but RFC 3339 does not
      '2025-03-14',
      '2025-03-14T09:26:41',
      'March 14, 2025',
      'Fri, 14 Mar 2025 09:26:41 GMT',
      '2025-03-14T09:26:41+0100',
      '2025/03/14 09:26:41Z',
      '1741944401',
      '2025-3-14T09:26:41Z',
      '+002025-03-14T09:26:41Z',
      // fraction forms
      '2025-03-14T09:26:41.Z',
      '2025-03-14T09:26:41.5128730141Z',
      // padding and junk
      ' 2025-03-14T09:26:41Z',
      '2025-03-14T09:26:41Z ',
      '2025-03-14T09:26:41Z\n',
      '2025-03-14T09:26:41ZZ',
      '',
      'now',
    ]) {
      t.equal(parseRfc3339(bad), undefined, JSON.stringify(bad));
    }
  });

  t.test('rejects calendar dates that do not exist instead of rolling them over like Date.parse', async (t) => {
    // Date.parse('2024-02-30T00:00:00Z') is 1 March 2024 in V8: the shape check alone lets these through.
    t.equal(Date.parse('2024-02-30T00:00:00Z'), Date.UTC(2024, 2, 1), 'V8 leniency this test guards against');
    for (const bad of ['2024-02-30T00:00:00Z', '2023-02-29T00:00:00Z', '2025-04-31T00:00:00Z', '2024-01-01T24:00:00Z']) {
      t.equal(parseRfc3339(bad), undefined, JSON.stringify(bad));
    }
    t.equal(parseRfc3339('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29), 'a real leap day');
  });
});

t.test('canonicalJson', async (t) => {
  t.test('sorts object keys at every depth and keeps array order', async (t) => {
    t.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    t.equal(canonicalJson([{ b: 1, a: 2 }, 'x']), '[{"a":2,"b":1},"x"]');
  });

  t.test('gives the same text for objects that differ only in key order', async (t) => {
    const a = { rule: 'r', output_fields: { 'k8s.pod.name': 'p', 'container.id': 'c' }, tags: ['b', 'a'] };
    const b = { tags: ['b', 'a'], output_fields: { 'container.id': 'c', 'k8s.pod.name': 'p' }, rule: 'r' };
    t.equal(canonicalJson(a), canonicalJson(b));
    t.not(canonicalJson({ tags: ['a', 'b'] }), canonicalJson({ tags: ['b', 'a'] }), 'array order matters');
  });

  t.test('sorts keys by code unit, drops undefined values and writes no whitespace', async (t) => {
    t.equal(canonicalJson({ b: 1, B: 2, a: undefined, _: 3 }), '{"B":2,"_":3,"b":1}');
    t.equal(canonicalJson('é\n'), '"é\\n"');
    t.equal(canonicalJson(42), '42');
    t.equal(canonicalJson(null), 'null');
  });

  t.test('sorts integer-like keys as text too, as another implementation would', async (t) => {
    // JS objects list integer-like keys first, in numeric order, whatever the insertion order:
    // rebuilding a sorted object does not give a code-unit order for them ("10" < "9").
    t.equal(canonicalJson({ '9': 'a', '10': 'b', x: 'c' }), '{"10":"b","9":"a","x":"c"}');
    t.equal(canonicalJson({ a: { '2': 1, '10': 2 } }), '{"a":{"10":2,"2":1}}', 'nested too');
    t.equal(canonicalJson({ x: 1, '1': 2 }), canonicalJson({ '1': 2, x: 1 }), 'still deterministic');
  });

  t.test('writes what JSON.stringify would for undefined in arrays, toJSON objects and escapes', async (t) => {
    t.equal(canonicalJson([1, undefined, 2]), '[1,null,2]');
    t.equal(canonicalJson({ at: new Date(Date.UTC(2025, 2, 14, 9, 26, 41, 512)) }), '{"at":"2025-03-14T09:26:41.512Z"}');
    t.equal(canonicalJson({ 'a"b': '\u2028<>&' }), JSON.stringify({ 'a"b': '\u2028<>&' }));
    t.equal(canonicalJson(undefined), 'null');
    t.equal(canonicalJson(true), 'true');
    const value = { z: [{ b: 2, a: 1 }], y: 'é', x: -0.5 };
    t.same(JSON.parse(canonicalJson(value)), value, 'round-trips');
  });

  t.test('sha256Hex hashes strings and bytes alike', async (t) => {
    t.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    t.equal(sha256Hex(new TextEncoder().encode('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    t.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

t.test('describeSchemaErrors', async (t) => {
  const err = (e: Partial<SchemaError> & { keyword: string }): SchemaError => ({ instancePath: '', params: {}, ...e });

  t.test("names an unknown key by its own path, in TypeBox's and Ajv's spellings", async (t) => {
    t.same(describeSchemaErrors([err({ keyword: 'additionalProperties', instancePath: '/spec/match', params: { additionalProperties: ['sorces'] } })]), {
      path: '/spec/match/sorces',
      problem: "unknown key 'sorces'",
    });
    t.same(describeSchemaErrors([err({ keyword: 'additionalProperties', instancePath: '/a', params: { additionalProperty: 'b' } })]), {
      path: '/a/b',
      problem: "unknown key 'b'",
    });
  });

  t.test('prefers an unknown key over a missing one, and a missing one over anything else', async (t) => {
    const errors = [
      err({ keyword: 'type', instancePath: '/x', message: 'must be string' }),
      err({ keyword: 'required', instancePath: '/spec/match', params: { requiredProperties: ['sources'] } }),
      err({ keyword: 'additionalProperties', instancePath: '/spec/match', params: { additionalProperties: ['sorces'] } }),
    ];
    t.equal(describeSchemaErrors(errors).path, '/spec/match/sorces');
    t.same(describeSchemaErrors(errors.slice(0, 2)), { path: '/spec/match/sources', problem: "missing required key 'sources'" });
    t.same(describeSchemaErrors([err({ keyword: 'required', instancePath: '', params: { missingProperty: 'kind' } })]), {
      path: '/kind',
      problem: "missing required key 'kind'",
    });
  });

  t.test('lists the allowed values of a union of literals at that path', async (t) => {
    const errors = [
      err({ keyword: 'const', instancePath: '/lock', params: { allowedValue: 'compliance' } }),
      err({ keyword: 'const', instancePath: '/lock', params: { allowedValue: 'governance' } }),
      err({ keyword: 'const', instancePath: '/lock', params: { allowedValue: 'none' } }),
      err({ keyword: 'anyOf', instancePath: '/lock', message: 'must match a schema in anyOf' }),
    ];
    t.same(describeSchemaErrors(errors), { path: '/lock', problem: 'must be one of "compliance", "governance", "none"' });
  });

  t.test("skips anyOf/boolean summaries, uses '/' for the root and falls back to the keyword", async (t) => {
    t.same(
      describeSchemaErrors([
        err({ keyword: 'anyOf', instancePath: '/a', message: 'anyOf' }),
        err({ keyword: 'type', instancePath: '/a/b', message: 'must be integer' }),
      ]),
      {
        path: '/a/b',
        problem: 'must be integer',
      },
    );
    t.same(describeSchemaErrors([err({ keyword: 'type', message: 'must be object' })]), { path: '/', problem: 'must be object' });
    t.same(describeSchemaErrors([err({ keyword: 'maxItems', instancePath: '/alerts' })]), { path: '/alerts', problem: 'maxItems' });
    t.same(describeSchemaErrors([]), { path: '/', problem: 'invalid' });
  });

  t.test("reads a real TypeBox validator's errors", async (t) => {
    const schema = Type.Object(
      { name: Type.String(), mode: Type.Union([Type.Literal('a'), Type.Literal('b')]), n: Type.Integer({ minimum: 1 }) },
      { additionalProperties: false },
    );
    const check = Compile(schema);
    const describe = (v: unknown) => describeSchemaErrors([...check.Errors(v)]);
    t.same(describe({ name: 'x', mode: 'a', n: 1, nmae: 'y' }), { path: '/nmae', problem: "unknown key 'nmae'" });
    t.same(describe({ mode: 'a', n: 1 }), { path: '/name', problem: "missing required key 'name'" });
    t.same(describe({ name: 'x', mode: 'c', n: 1 }), { path: '/mode', problem: 'must be one of "a", "b"' });
    const low = describe({ name: 'x', mode: 'a', n: 0 });
    t.equal(low.path, '/n');
    t.match(low.problem, />= 1/);
    t.same(describe('text'), { path: '/', problem: 'must be object' });
  });
});

t.test('captureKeys and planCapture', async (t) => {
  const signal = (over: Partial<Signal> = {}): Signal => ({
    source: 'falco',
    rule: 'Terminal shell in container',
    priority: 'Notice',
    time: '2026-11-28T10:00:00Z',
    tags: [],
    fields: {},
    target: { namespace: 'shop', pod: 'web-1', container: 'app', containerID: 'aaaaaaaaaaaa' },
    raw: { rule: 'Terminal shell in container', b: 1 },
    ...over,
  });
  const decision = (over: Partial<Decision> = {}): Decision => ({
    policy: 'shell',
    signal: signal(),
    containers: 'target',
    cooldownMs: 60_000,
    timeoutSeconds: 120,
    include: ['podSpec'],
    evidence: { retentionDays: 30, lock: 'none' },
    ...over,
  });

  t.test('key one container per policy, or the whole pod when every container is captured', async (t) => {
    t.same(captureKeys(decision()), { dedupeKey: 'shell/shop/web-1/app', deliveryKey: undefined, cooldownMs: 60_000 });
    t.equal(captureKeys(decision({ containers: 'all' })).dedupeKey, 'shell/shop/web-1/*');
    t.equal(captureKeys(decision({ signal: signal({ deliveryKey: 'falcosidekick:u-1' }) })).deliveryKey, 'shell/falcosidekick:u-1');
    t.throws(() => captureKeys(decision({ signal: signal({ target: { namespace: 'shop' } }) })), /namespace and pod/);
  });

  t.test('the plan records the digest of the bytes received, or of the canonical JSON when none were kept', async (t) => {
    const kept = '{"rule": "Terminal shell in container", "b": 1}';
    t.equal(planCapture(decision({ signal: signal({ rawText: kept }) })).spec.trigger.signalDigest, sha256Hex(kept));
    t.equal(planCapture(decision()).spec.trigger.signalDigest, sha256Hex(canonicalJson({ b: 1, rule: 'Terminal shell in container' })));
    t.equal(signalDigest(signal({ rawText: kept })), sha256Hex(kept));
  });

  t.test('the plan carries the keys it was given and the target the policy asks for', async (t) => {
    const d = decision({ containers: 'all' });
    const plan = planCapture(d, captureKeys(d));
    t.equal(plan.dedupeKey, 'shell/shop/web-1/*');
    t.same(plan.spec.target, { namespace: 'shop', pod: 'web-1' }, 'no container named when all are captured');
    t.same(planCapture(decision()).spec.target, { namespace: 'shop', pod: 'web-1', container: 'app', containerID: 'aaaaaaaaaaaa' });
  });
});

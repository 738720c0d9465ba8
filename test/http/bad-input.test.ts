import fc from 'fast-check';
import t from 'tap';
import { fixture } from '../helpers/fixtures.js';
import { startTestApp } from '../helpers/start-test-app.js';

t.test('bad input gets a precise 4xx, queues nothing, and the server keeps serving', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.close());
  const falco = () => fixture('falco/terminal-shell.json');
  const am = () => fixture('alertmanager/firing.json');

  const cases: {
    name: string;
    path: string;
    body?: unknown;
    raw?: string | Buffer;
    headers?: Record<string, string>;
    status: number;
    code: string;
    message?: RegExp;
  }[] = [
    { name: 'malformed JSON', path: '/v1/alerts/falco', raw: '{"rule": "x",', status: 400, code: 'INTAKE_BAD_JSON' },
    { name: 'an empty JSON body', path: '/v1/alerts/falco', raw: '', status: 400, code: 'INTAKE_BAD_JSON' },
    { name: 'a JSON array instead of an event', path: '/v1/alerts/falco', body: [falco()], status: 422, code: 'INTAKE_INVALID_PAYLOAD' },
    {
      name: 'a Falco alert without output_fields',
      path: '/v1/alerts/falco',
      body: { ...falco(), output_fields: undefined },
      status: 422,
      code: 'INTAKE_INVALID_PAYLOAD',
      message: /output_fields/,
    },
    {
      name: 'a rule that is a number',
      path: '/v1/alerts/falco',
      body: { ...falco(), rule: 42 },
      status: 422,
      code: 'INTAKE_INVALID_PAYLOAD',
      message: /\/rule/,
    },
    {
      name: 'a priority Falco does not have',
      path: '/v1/alerts/falco',
      body: { ...falco(), priority: 'Loud' },
      status: 422,
      code: 'INTAKE_INVALID_PAYLOAD',
      message: /priority/,
    },
    { name: 'a time that is not RFC 3339', path: '/v1/alerts/falco', body: { ...falco(), time: 'yesterday' }, status: 422, code: 'INTAKE_BAD_TIME' },
    { name: 'tags that are not strings', path: '/v1/alerts/falco', body: { ...falco(), tags: [1, 2] }, status: 422, code: 'INTAKE_INVALID_PAYLOAD' },
    {
      name: 'a 10k-element tags array',
      path: '/v1/alerts/falco',
      body: { ...falco(), tags: Array.from({ length: 10_000 }, (_, i) => `t${i}`) },
      status: 422,
      code: 'INTAKE_INVALID_PAYLOAD',
    },
    {
      name: 'a 10k-alert Alertmanager batch',
      path: '/v1/alerts/alertmanager',
      body: { ...am(), alerts: Array.from({ length: 10_000 }, () => ({ status: 'firing', labels: { pod: 'a' }, startsAt: '2026-11-28T10:00:00Z' })) },
      status: 422,
      code: 'INTAKE_INVALID_PAYLOAD',
      message: /alerts/,
    },
    { name: 'a 2 MiB body', path: '/v1/alerts/falco', body: { ...falco(), output: 'x'.repeat(2 * 1024 * 1024) }, status: 413, code: 'INTAKE_BODY_TOO_LARGE' },
    {
      name: 'text/plain',
      path: '/v1/alerts/falco',
      raw: JSON.stringify(falco()),
      headers: { 'content-type': 'text/plain' },
      status: 415,
      code: 'INTAKE_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'form encoding',
      path: '/v1/alerts/alertmanager',
      raw: 'a=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
      code: 'INTAKE_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'a pod name with a path in it',
      path: '/v1/alerts/falco',
      body: { ...falco(), output_fields: { ...falco().output_fields, 'k8s.pod.name': '../../etc/passwd' } },
      status: 422,
      code: 'INTAKE_BAD_NAME',
      message: /k8s\.pod\.name/,
    },
    {
      name: 'a namespace with a slash',
      path: '/v1/alerts/falco',
      body: { ...falco(), output_fields: { ...falco().output_fields, 'k8s.ns.name': 'shop/evil' } },
      status: 422,
      code: 'INTAKE_BAD_NAME',
    },
    {
      name: 'a container id that is not hex',
      path: '/v1/alerts/falco',
      body: { ...falco(), output_fields: { ...falco().output_fields, 'container.id': 'zzzzzzzzzzzz', 'container.full_id': undefined } },
      status: 422,
      code: 'INTAKE_BAD_NAME',
    },
    {
      name: 'a pod name with unicode and control characters',
      path: '/v1/alerts/falco',
      body: { ...falco(), output_fields: { ...falco().output_fields, 'k8s.pod.name': 'wéb\u0000\u202e-1' } },
      status: 422,
      code: 'INTAKE_BAD_NAME',
    },
    {
      name: 'an Alertmanager pod label with a path',
      path: '/v1/alerts/alertmanager',
      body: { ...am(), alerts: [{ ...am().alerts[0], labels: { ...am().alerts[0].labels, pod: '..' } }] },
      status: 422,
      code: 'INTAKE_BAD_NAME',
      message: /labels\/pod/,
    },
    {
      name: 'an Alertmanager webhook of another version',
      path: '/v1/alerts/alertmanager',
      body: { ...am(), version: '3' },
      status: 422,
      code: 'INTAKE_INVALID_PAYLOAD',
      message: /version/,
    },
    {
      name: 'an alert with a bad startsAt',
      path: '/v1/alerts/alertmanager',
      body: { ...am(), alerts: [{ ...am().alerts[0], startsAt: 'soon' }] },
      status: 422,
      code: 'INTAKE_BAD_TIME',
    },
    {
      name: 'labels with a non-string value',
      path: '/v1/alerts/alertmanager',
      body: { ...am(), alerts: [{ ...am().alerts[0], labels: { pod: 5 } }] },
      status: 422,
      code: 'INTAKE_INVALID_PAYLOAD',
    },
    { name: 'a __proto__ key', path: '/v1/alerts/falco', raw: '{"__proto__": {"polluted": true}, "rule": "x"}', status: 400, code: 'INTAKE_BAD_JSON' },
  ];

  for (const c of cases) {
    await t.test(`answers ${c.status} ${c.code} for ${c.name}`, async (t) => {
      const res = await app.post(c.path, c.body, { ...(c.raw === undefined ? {} : { raw: c.raw }), ...(c.headers ? { headers: c.headers } : {}) });
      t.equal(res.status, c.status);
      t.equal(res.body?.error?.code, c.code);
      t.type(res.body?.error?.message, 'string');
      if (c.message) t.match(res.body.error.message, c.message);
    });
  }

  await t.test('queued nothing and logged a line for each refusal', async (t) => {
    t.equal((await app.get('/v1/captures')).body.captures.length, 0);
    const refused = app.logs.find('request refused');
    t.ok(refused.length >= cases.length - 1, `${refused.length} refusal log lines`);
    t.ok(refused.every((l) => typeof l['code'] === 'string'));
    t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype pollution');
  });

  await t.test('still serves a good alert afterwards', async (t) => {
    const res = await app.post('/v1/alerts/falco', falco());
    t.equal(res.status, 202);
  });

  await t.test('random payloads never get a 5xx (property)', async (t) => {
    const scalar = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
    const json = fc.jsonValue({ maxDepth: 3 });
    const falcoLike = fc.record(
      {
        time: fc.oneof(fc.constant('2026-11-28T10:00:00.123456789Z'), fc.string()),
        rule: fc.oneof(fc.constantFrom('Terminal shell in container', 'Falco internal: syscall event drop', 'Test rule'), fc.string()),
        priority: fc.oneof(fc.constantFrom('Notice', 'critical', 'Debug'), fc.string()),
        output: fc.string(),
        source: fc.constantFrom('syscall', 'syscalls', 'k8s_audit'),
        tags: fc.array(fc.string(), { maxLength: 5 }),
        output_fields: fc.dictionary(
          fc.constantFrom('container.id', 'container.full_id', 'k8s.ns.name', 'k8s.pod.name', 'k8s.pod.uid', 'container.name', 'proc.name'),
          fc.oneof(scalar, fc.constantFrom('host', '<NA>', '3f9c2a7b1d04', 'shop', 'web-1', '../x')),
        ),
      },
      { requiredKeys: [] },
    );
    const amLike = fc.record(
      {
        version: fc.constantFrom('4', '3'),
        status: fc.constantFrom('firing', 'resolved', 'other'),
        alerts: fc.array(
          fc.record(
            {
              status: fc.constantFrom('firing', 'resolved'),
              labels: fc.dictionary(
                fc.constantFrom('namespace', 'pod', 'container', 'alertname', 'severity', 'container_id'),
                fc.oneof(fc.string(), fc.constantFrom('shop', 'web-1', 'app')),
              ),
              startsAt: fc.oneof(fc.constant('2026-11-28T10:00:00Z'), fc.string()),
              fingerprint: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 16, maxLength: 16 }),
            },
            { requiredKeys: [] },
          ),
          { maxLength: 4 },
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(falcoLike, amLike, json), fc.constantFrom('/v1/alerts/falco', '/v1/alerts/alertmanager'), async (body, path) => {
        const res = await app.post(path, body);
        return res.status < 500 && (res.status < 400 || typeof res.body?.error?.code === 'string');
      }),
      { numRuns: 300 },
    );
    t.pass('no 5xx in 300 random payloads');
  });
});

import { request } from 'node:https';
import { rm } from 'node:fs/promises';
import t from 'tap';
import { createLogger } from '../../src/cli/create-logger.js';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';
import { IntakeMetrics } from '../../src/http/intake-metrics.js';
import { startServer } from '../../src/http/start-server.js';
import { noAuthenticator, tokenAuthenticator } from '../../src/http/token-auth.js';
import { loadPolicies } from '../../src/policy/load-policies.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { fixture } from '../helpers/fixtures.js';
import { LogSink } from '../helpers/log-sink.js';
import { makeTestPki } from '../helpers/make-certs.js';
import { startTestApp } from '../helpers/start-test-app.js';

t.test('authentication', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.close());

  await t.test('answers 401 without a token, with a wrong token, or with another scheme', async (t) => {
    for (const token of [null, 'wrong-token', '']) {
      const res = await app.post('/v1/alerts/falco', fixture('falco/terminal-shell.json'), { token });
      t.equal(res.status, 401, `token ${String(token)}`);
      t.equal(res.body.error.code, 'AUTH_REQUIRED');
      t.equal(res.headers.get('www-authenticate'), 'Bearer realm="amber"');
    }
    const basic = await app.post('/v1/alerts/falco', fixture('falco/terminal-shell.json'), { token: null, headers: { authorization: 'Basic dGVzdDp0ZXN0' } });
    t.equal(basic.status, 401);
    t.equal((await app.get('/v1/captures', null)).status, 401);
    t.equal((await app.get('/v1/captures', 'nope')).status, 401);
    t.equal((await app.get('/v1/captures')).body.captures.length, 0, 'nothing was queued');
  });

  await t.test('lets health, readiness and metrics through without a token', async (t) => {
    t.equal((await app.get('/healthz', null)).status, 200);
    const ready = await app.get('/readyz', null);
    t.equal(ready.status, 200);
    t.equal(ready.body.status, 'ready');
    const metrics = await app.get('/metrics', null);
    t.equal(metrics.status, 200);
    t.match(metrics.body, /amber_signals_total\{source="falco",outcome="rejected"\} 4/);
  });

  await t.test('never logs a presented token', async (t) => {
    await app.post('/v1/alerts/falco', {}, { token: 'secret-attacker-token' });
    t.notMatch(app.logs.text(), /secret-attacker-token/);
    t.notMatch(app.logs.text(), /test-token-0123456789abcdef/);
  });
});

t.test('captures, metrics and OpenAPI', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.close());
  const queued = await app.post('/v1/alerts/falco', fixture('falco/terminal-shell.json'));
  await app.post('/v1/alerts/falco', fixture('falco/terminal-shell.json'));
  const id = queued.body.captures[0].id as string;

  await t.test('lists captures without their raw signals and shows one with them', async (t) => {
    const list = await app.get('/v1/captures?phase=Pending&limit=10');
    t.equal(list.status, 200);
    t.equal(list.body.captures[0].id, id);
    t.notOk('signals' in list.body.captures[0]);
    const one = await app.get(`/v1/captures/${id}`);
    t.equal(one.body.signals.length, 1);
    t.equal((await app.get('/v1/captures?phase=Sealed')).body.captures.length, 0);
  });

  await t.test('answers 404 for an unknown capture and 422 for a bad query', async (t) => {
    const res = await app.get('/v1/captures/0000000000000000000000000z');
    t.equal(res.status, 404);
    t.equal(res.body.error.code, 'CAPTURE_NOT_FOUND');
    t.equal((await app.get('/v1/captures?limit=0')).status, 422);
    t.equal((await app.get('/v1/captures?phase=Nope')).status, 422);
    t.equal((await app.get('/nowhere')).body.error.code, 'NOT_FOUND');
  });

  await t.test('counts signals, matches, queued captures, duplicates and intake latency', async (t) => {
    const text = (await app.get('/metrics', null)).body as string;
    t.match(text, /amber_signals_total\{source="falco",outcome="queued"\} 1/);
    t.match(text, /amber_signals_total\{source="falco",outcome="duplicate"\} 1/);
    t.match(text, /amber_policy_matches_total\{policy="interactive-shell"\} 2/);
    t.match(text, /amber_captures_queued_total\{policy="interactive-shell"\} 1/);
    t.match(text, /amber_capture_duplicates_total\{policy="interactive-shell"\} 1/);
    t.match(text, /amber_intake_duration_seconds_count\{route="\/v1\/alerts\/falco",status="202"\} 1/);
  });

  await t.test('serves an OpenAPI document generated from the route schemas', async (t) => {
    const doc = (await app.get('/openapi.json', null)).body;
    t.equal(doc.openapi, '3.1.0');
    t.ok(doc.paths['/v1/alerts/falco'].post.requestBody.content['application/json'].schema.properties.output_fields);
    t.ok(doc.paths['/v1/alerts/alertmanager'].post);
    t.ok(doc.paths['/v1/captures/{id}'].get);
  });
});

t.test('--insecure-no-auth lets unauthenticated requests in', async (t) => {
  const app = await startTestApp({ auth: noAuthenticator });
  t.teardown(() => app.close());
  const res = await app.post('/v1/alerts/falco', fixture('falco/terminal-shell.json'), { token: null });
  t.equal(res.status, 202);
});

t.test("mTLS: Falco's http_output authenticates with a client certificate", async (t) => {
  const pki = makeTestPki();
  t.teardown(() => rm(pki.dir, { recursive: true, force: true }));
  const dir = `${pki.dir}/data`;
  const queue = await FileQueue.open({ dir: `${dir}/journal` });
  const server = await startServer(
    {
      log: createLogger('warn', new LogSink()),
      queue,
      policies: await loadPolicies('policies'),
      auth: tokenAuthenticator(['tok'], { acceptClientCerts: true }),
      metrics: new IntakeMetrics(),
      bodyLimit: DEFAULT_SETTINGS.bodyLimit,
      labelKeys: DEFAULT_SETTINGS.alertmanager.labels,
      version: 'test',
    },
    { listen: '127.0.0.1:0', tls: { cert: pki.serverCert, key: pki.serverKey, clientCA: pki.caCert } },
  );
  t.teardown(async () => {
    await server.close();
    await queue.close();
  });
  t.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const post = (opts: { cert?: string; key?: string; token?: string }) =>
    new Promise<number>((resolve, reject) => {
      const body = JSON.stringify(fixture('falco/terminal-shell.json'));
      const req = request(
        `${server.url}/v1/alerts/falco`,
        {
          method: 'POST',
          ca: pki.read(pki.caCert),
          ...(opts.cert ? { cert: pki.read(opts.cert), key: pki.read(opts.key as string) } : {}),
          headers: { 'content-type': 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  t.equal(await post({}), 401, 'no certificate, no token');
  t.equal(await post({ cert: pki.strangerCert, key: pki.strangerKey }), 401, 'a certificate from another CA');
  t.equal(await post({ cert: pki.clientCert, key: pki.clientKey }), 202, 'a certificate from the client CA');
  t.equal(await post({ token: 'tok' }), 200, 'a bearer token still works over TLS (duplicate now)');
});

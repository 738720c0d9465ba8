import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { Value } from 'typebox/value';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/cli/create-logger.js';
import type { Capture } from '../../src/core/capture.js';
import { httpTarget } from '../../src/notify/http-target.js';
import { Notification } from '../../src/notify/notification.js';
import { Notifier, type NotifyTarget } from '../../src/notify/notifier.js';
import { checkNotifications } from '../../src/notify/notify-settings.js';
import { escapeMrkdwn } from '../../src/notify/slack-message.js';
import { LogSink } from '../helpers/log-sink.js';

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP receiver on loopback: records every request, answers with the next scripted answer (then 200). */
async function receiver(t: { teardown(fn: () => unknown): void }, answers: Answer[] = []) {
  const got: { at: number; headers: IncomingMessage['headers']; body: Buffer; url: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks), url: req.url ?? '' });
      const answer = answers.shift();
      if (answer) answer(req, res);
      else res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => server.close(r)));
  server.unref();
  const { port } = server.address() as AddressInfo;
  return { got, base: `http://127.0.0.1:${port}`, server };
}

function capture(over: { phase?: 'Sealed' | 'Failed'; pod?: string; rule?: string; policy?: string; id?: string } = {}): Capture {
  const phase = over.phase ?? 'Sealed';
  return {
    id: over.id ?? '01JCAPTURE0000000000000001',
    createdAt: '2026-12-07T07:00:00.000Z',
    dedupeKey: 'interactive-shell/shop/web-1/app',
    cooldownMs: 60_000,
    spec: {
      target: { namespace: 'shop', pod: over.pod ?? 'web-1', container: 'app', node: 'node-a' },
      trigger: {
        source: 'falco',
        rule: over.rule ?? 'Terminal shell in container',
        priority: 'Notice',
        time: '2026-12-07T06:59:59.000Z',
        policy: over.policy ?? 'interactive-shell',
        signalDigest: 'sha256:00',
      },
      containers: 'target',
      timeoutSeconds: 30,
      include: ['podSpec', 'logs'],
      evidence: { retentionDays: 30, lock: 'none' },
    },
    status: {
      phase,
      phaseTimes: { Pending: '2026-12-07T07:00:00.000Z', [phase]: '2026-12-07T07:00:05.000Z' },
      attempts: 1,
      ...(phase === 'Failed'
        ? { reason: 'PodGone', message: 'the pod is gone' }
        : {
            bundle: { uri: 's3://evidence/test/2026/12/07/01JCAPTURE0000000000000001', archives: [], signingKeyId: 'kid-1' },
            report: { state: 'Written' as const, indicators: ['reverse-shell', 'executable-added'] },
          }),
    },
    signals: [],
  };
}

function notifier(targets: NotifyTarget[], over: Partial<ConstructorParameters<typeof Notifier>[0]> = {}) {
  const logs = new LogSink();
  const registry = new Registry();
  const n = new Notifier({
    targets,
    policyNotify: new Map(),
    cluster: 'test',
    log: createLogger('debug', logs),
    registry,
    baseDelayMs: 5,
    maxDelayMs: 20,
    ...over,
  });
  return { n, logs, registry };
}

const both = new Set(['sealed', 'failed'] as const);

/** The receiver's own check of X-Amber-Signature, written from the README, not from src/. */
function receiverAccepts(header: string | undefined, body: Buffer, secret: string, nowSeconds: number): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const ts = Number(m[1]);
  if (Math.abs(nowSeconds - ts) > 300) return false;
  const expected = createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(`${m[1]}.`), body]))
    .digest();
  return timingSafeEqual(expected, Buffer.from(m[2] as string, 'hex'));
}

t.test('posts a signed body that fits the schema; the receiver checks the HMAC on its own', async (t) => {
  const r = await receiver(t);
  const secret = 'hunter2-signing-secret';
  const { n, registry } = notifier([httpTarget({ name: 'soc', type: 'webhook', url: `${r.base}/hook`, secret: Buffer.from(secret), on: both })]);
  n.sealed(capture());
  await n.idle();
  t.equal(r.got.length, 1);
  const req = r.got[0]!;
  const body = JSON.parse(req.body.toString('utf8'));
  t.ok(Value.Check(Notification, body), [...Value.Errors(Notification, body)].map((e) => e.message).join('; ') || 'fits the schema');
  t.match(body, {
    schema: 'forensics.amber.dev/notification/v1',
    event: 'capture.sealed',
    capture: { id: '01JCAPTURE0000000000000001', policy: 'interactive-shell', phase: 'Sealed' },
    target: { namespace: 'shop', pod: 'web-1', container: 'app', node: 'node-a' },
    bundle: { uri: /^s3:\/\// },
    report: { state: 'Written', indicators: ['reverse-shell', 'executable-added'] },
    cluster: 'test',
  });
  t.equal(req.headers['x-amber-event'], 'capture.sealed');
  const now = Math.floor(Date.now() / 1000);
  t.ok(receiverAccepts(req.headers['x-amber-signature'] as string, req.body, secret, now), 'the signature checks');
  t.notOk(receiverAccepts(req.headers['x-amber-signature'] as string, Buffer.concat([req.body, Buffer.from(' ')]), secret, now), 'a changed body does not');
  t.notOk(receiverAccepts(req.headers['x-amber-signature'] as string, req.body, secret, now + 3600), 'an hour later, a replay is refused');
  t.match(await registry.metrics(), /amber_notifications_sent_total\{name="soc",type="webhook"\} 1/);
});

t.test('a failed capture carries its reason and message', async (t) => {
  const r = await receiver(t);
  const { n } = notifier([httpTarget({ name: 'soc', type: 'webhook', url: r.base, on: both })]);
  n.failed(capture({ phase: 'Failed' }));
  await n.idle();
  const body = JSON.parse(r.got[0]!.body.toString('utf8'));
  t.match(body, { event: 'capture.failed', reason: 'PodGone', message: 'the pod is gone' });
  t.equal(body.bundle, undefined);
  t.equal(r.got[0]!.headers['x-amber-signature'], undefined, 'no secret, no signature');
});

t.test('retries on 5xx, then succeeds; nothing is sent again for the same capture and event', async (t) => {
  const r = await receiver(t, [(_q, s) => s.writeHead(503).end(), (_q, s) => s.writeHead(502).end()]);
  const { n, logs } = notifier([httpTarget({ name: 'soc', type: 'webhook', url: r.base, on: both })]);
  n.sealed(capture());
  n.sealed(capture()); // a duplicate while the first is retrying
  await n.idle();
  t.equal(r.got.length, 3, 'two failures, one success');
  n.sealed(capture()); // a re-run of the same capture after it was sent
  await n.idle();
  t.equal(r.got.length, 3, 'not sent again');
  t.equal(new Set(r.got.map((g) => g.body.toString())).size, 1, 'every attempt sent the same body');
  t.equal(logs.find('notification not delivered; will retry').length, 2);
  t.equal(logs.find('already notified; not sent again').length, 2);
  n.failed(capture({ phase: 'Failed' }));
  await n.idle();
  t.equal(r.got.length, 4, 'another event of the same capture is news');
});

t.test('a 429 with Retry-After is honoured', async (t) => {
  const r = await receiver(t, [(_q, s) => s.writeHead(429, { 'retry-after': '1' }).end()]);
  const { n } = notifier([httpTarget({ name: 'soc', type: 'webhook', url: r.base, on: both })]);
  n.sealed(capture());
  await n.idle();
  t.equal(r.got.length, 2);
  t.ok(r.got[1]!.at - r.got[0]!.at >= 950, `waited ${r.got[1]!.at - r.got[0]!.at} ms, at least the second the receiver asked for`);
});

t.test('a 4xx is given up at once; attempts are bounded; a full queue drops, each counted', async (t) => {
  const r = await receiver(t, [
    (_q, s) => s.writeHead(400).end(),
    ...Array.from({ length: 3 }, () => (_q: IncomingMessage, s: ServerResponse) => s.writeHead(500).end()),
  ]);
  const { n, registry } = notifier([httpTarget({ name: 'soc', type: 'webhook', url: r.base, on: both })], { maxAttempts: 3, queueLimit: 1 });
  n.sealed(capture({ id: 'A' }));
  await n.idle();
  t.equal(r.got.length, 1, 'rejected: not retried');
  n.sealed(capture({ id: 'B' }));
  n.sealed(capture({ id: 'C' })); // the queue holds one
  await n.idle();
  t.equal(r.got.length, 4, 'B tried three times, C never');
  const text = await registry.metrics();
  t.match(text, /amber_notifications_failed_total\{name="soc",type="webhook",reason="rejected"\} 1/);
  t.match(text, /amber_notifications_failed_total\{name="soc",type="webhook",reason="exhausted"\} 1/);
  t.match(text, /amber_notifications_failed_total\{name="soc",type="webhook",reason="queue_full"\} 1/);
});

t.test('a receiver that never answers does not hold the caller; the URL secret never reaches a log line', async (t) => {
  const r = await receiver(
    t,
    Array.from({ length: 5 }, () => () => undefined),
  ); // never answers
  const url = `http://user:pa55word@127.0.0.1:${(r.server.address() as AddressInfo).port}/services/T000/B000/XXXXSECRETPATH?token=QUERYTOKEN`;
  const { n, logs } = notifier([httpTarget({ name: 'slack', type: 'slack', url, on: both, timeoutMs: 100 })], { maxAttempts: 2 });
  const before = Date.now();
  n.sealed(capture());
  t.ok(Date.now() - before < 50, 'sealed() returned at once');
  await n.idle();
  t.equal(r.got.length, 2);
  t.equal(r.got[0]!.headers.authorization, `Basic ${Buffer.from('user:pa55word').toString('base64')}`, 'userinfo is sent as Basic credentials');
  const text = logs.text();
  t.match(text, /notification dropped/);
  for (const secret of ['pa55word', 'XXXXSECRETPATH', 'QUERYTOKEN', 'services/T000']) t.notMatch(text, secret, `${secret} is not logged`);
  t.match(text, /http:\/\/127\.0\.0\.1:\d+\/…/, 'the redacted form is');
  r.server.closeAllConnections();
});

t.test('Slack: attacker-controlled strings are escaped for mrkdwn', async (t) => {
  const r = await receiver(t);
  const { n } = notifier([httpTarget({ name: 'slack', type: 'slack', url: r.base, on: both })]);
  n.sealed(capture({ pod: '<!channel>&<script>', rule: 'Shell <https://evil.example|click here>' }));
  await n.idle();
  const body = JSON.parse(r.got[0]!.body.toString('utf8'));
  t.ok(typeof body.text === 'string' && Array.isArray(body.blocks));
  t.equal(body.blocks[0].text.text, body.text);
  t.notMatch(body.text, /<!channel>|<script>|<https:/);
  t.match(body.text, /&lt;!channel&gt;&amp;&lt;script&gt;/);
  t.match(body.text, /Shell &lt;https:\/\/evil\.example\|click here&gt;/);
  t.equal(escapeMrkdwn('a & b < c > d'), 'a &amp; b &lt; c &gt; d');
});

t.test("routing: `on`, a notification's policies, a policy's spec.notify ([] opts out)", async (t) => {
  const r = await receiver(t);
  const a = httpTarget({ name: 'a', type: 'webhook', url: `${r.base}/a`, on: new Set(['failed'] as const) });
  const b = httpTarget({ name: 'b', type: 'webhook', url: `${r.base}/b`, on: both, policies: new Set(['miner']) });
  const c = httpTarget({ name: 'c', type: 'webhook', url: `${r.base}/c`, on: both });
  const { n } = notifier([a, b, c], {
    policyNotify: new Map([
      ['quiet', []],
      ['loud', ['a']],
    ]),
  });
  n.sealed(capture({ id: '1', policy: 'interactive-shell' })); // c
  n.sealed(capture({ id: '2', policy: 'miner' })); // b, c
  n.failed(capture({ id: '3', phase: 'Failed', policy: 'quiet' })); // none
  n.failed(capture({ id: '4', phase: 'Failed', policy: 'loud' })); // a only
  await n.idle();
  t.same(r.got.map((g) => `${JSON.parse(g.body.toString()).capture.id}${g.url}`).sort(), ['1/c', '2/b', '2/c', '4/a']);
});

t.test('settings are checked: unknown names, bad URLs, missing URL — without quoting the URL', async (t) => {
  const ok = { name: 'soc', type: 'webhook' as const, url: 'https://hooks.example/x', on: ['sealed' as const] };
  t.doesNotThrow(() => checkNotifications([ok], [{ name: 'p', notify: ['soc'] }]));
  t.throws(() => checkNotifications([ok], [{ name: 'p', notify: ['nope'] }]), { code: 'CONFIG_INVALID', details: { policy: 'p', problem: /'nope'/ } });
  t.throws(() => checkNotifications([{ ...ok, policies: ['ghost'] }], [{ name: 'p' }]), { code: 'CONFIG_INVALID', details: { problem: /'ghost'/ } });
  t.throws(() => checkNotifications([ok, ok], []), { code: 'CONFIG_INVALID', details: { setting: 'notifications[1]' } });
  t.throws(() => checkNotifications([{ ...ok, url: 'https://secret-token@[bad' }], []), {
    code: 'CONFIG_INVALID',
    details: { problem: 'the URL does not parse' },
  });
  t.throws(() => checkNotifications([{ name: 's', type: 'slack', on: ['failed'] }], []), {
    code: 'CONFIG_INVALID',
    details: { problem: /exactly one of url and urlFile/ },
  });
});

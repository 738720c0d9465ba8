import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Capture, CaptureStatus } from '../../src/core/capture.js';
import { planCapture } from '../../src/core/decision.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { startUiApp, TOKEN, type UiApp } from '../helpers/start-ui-app.js';

const T0 = Date.UTC(2026, 10, 28, 10, 0, 0);

async function setup(t: { teardown(fn: () => unknown): void }): Promise<{ app: UiApp; queue: FileQueue; add: (c: Want) => Promise<Capture> }> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-list-'));
  let clock = T0;
  // a minute between captures: ids (time-ordered) and the newest-first order are certain
  const queue = await FileQueue.open({ dir: join(dir, 'journal'), now: () => (clock += 60_000) });
  const app = await startUiApp({ queue });
  t.teardown(async () => {
    await app.close();
    await queue.close();
    await rm(dir, { recursive: true, force: true });
  });
  const add = async (w: Want): Promise<Capture> => {
    const { capture, duplicate } = await queue.enqueue(
      planCapture({
        policy: w.policy,
        signal: {
          source: 'falco',
          rule: w.rule ?? 'Terminal shell in container',
          priority: 'Notice',
          time: new Date(clock).toISOString(),
          tags: [],
          fields: {},
          target: { namespace: w.namespace, pod: w.pod, container: 'app' },
          raw: { pod: w.pod },
        },
        containers: 'target',
        cooldownMs: 60_000,
        timeoutSeconds: 30,
        include: [],
        evidence: { retentionDays: 1, lock: 'none' },
      }),
    );
    if (duplicate) throw new Error(`${w.namespace}/${w.pod} was a duplicate`);
    if (w.phase === undefined) return capture;
    const status: CaptureStatus = {
      ...capture.status,
      phase: w.phase,
      phaseTimes: { ...capture.status.phaseTimes, [w.phase]: new Date(clock).toISOString() },
      ...(w.indicators ? { report: { state: 'Written', indicators: w.indicators } } : {}),
    };
    return queue.updateStatus(capture.id, status);
  };
  return { app, queue, add };
}

interface Want {
  namespace: string;
  pod: string;
  policy: string;
  rule?: string;
  phase?: 'Sealed' | 'Failed';
  indicators?: string[];
}

const ids = (body: { captures: { id: string }[] }) => body.captures.map((c) => c.id);

t.test('the capture list: filters and paging', async (t) => {
  const { app, add } = await setup(t);
  const list = async (query: string) => {
    const res = await app.call('GET', `/v1/captures${query}`, { token: TOKEN });
    t.equal(res.status, 200, `${query}: ${res.text.slice(0, 200)}`);
    return res.body as { captures: Capture[]; more: boolean };
  };
  // oldest first
  const web = await add({ namespace: 'shop', pod: 'web-1', policy: 'interactive-shell', phase: 'Failed' });
  const miner = await add({
    namespace: 'shop',
    pod: 'api-2',
    policy: 'crypto-miner',
    rule: 'Detect crypto miners using the Stratum protocol',
    phase: 'Sealed',
    indicators: ['crypto-miner'],
  });
  const ledger = await add({
    namespace: 'payments',
    pod: 'ledger-0',
    policy: 'interactive-shell',
    phase: 'Sealed',
    indicators: ['reverse-shell', 'crypto-miner'],
  });
  const shell = await add({ namespace: 'payments', pod: 'gateway-5', policy: 'interactive-shell' });
  const more: Capture[] = [];
  for (let i = 0; i < 5; i++) more.push(await add({ namespace: 'batch', pod: `job-${i}`, policy: 'reverse-shell' }));
  const newestFirst = [web, miner, ledger, shell, ...more].map((c) => c.id).reverse();

  await t.test('unfiltered: newest first, without the signals', async (t) => {
    const all = await list('');
    t.same(ids(all), newestFirst);
    t.equal(all.more, false);
    t.notOk('signals' in (all.captures[0] as object));
    const two = await list('?limit=2');
    t.same(ids(two), newestFirst.slice(0, 2));
    t.equal(two.more, true);
    t.equal((await list(`?limit=${newestFirst.length}`)).more, false, 'exactly all: no more');
  });

  await t.test('namespace', async (t) => {
    t.same(ids(await list('?namespace=shop')), [miner.id, web.id]);
    t.same(ids(await list('?namespace=payments')), [shell.id, ledger.id]);
    t.same(ids(await list('?namespace=sho')), [], 'a whole namespace, not a prefix');
  });

  await t.test('policy', async (t) => {
    t.same(ids(await list('?policy=interactive-shell')), [shell.id, ledger.id, web.id]);
    t.same(ids(await list('?policy=crypto-miner')), [miner.id]);
    t.same(ids(await list('?policy=interactive-shell&namespace=payments')), [shell.id, ledger.id], 'filters combine');
  });

  await t.test('indicator (from the triage report)', async (t) => {
    t.same(ids(await list('?indicator=crypto-miner')), [ledger.id, miner.id]);
    t.same(ids(await list('?indicator=reverse-shell')), [ledger.id], 'the indicator, not the policy of that name');
    t.same(ids(await list('?indicator=crypto')), [], 'a whole indicator id');
  });

  await t.test('q: text in the id, target, rule or policy, any case', async (t) => {
    t.same(ids(await list('?q=LEDGER')), [ledger.id], 'the pod');
    t.same(ids(await list('?q=stratum')), [miner.id], 'the rule');
    t.same(ids(await list('?q=payments')), [shell.id, ledger.id], 'the namespace');
    t.same(ids(await list(`?q=${web.id.slice(-8).toUpperCase()}`)), [web.id], 'part of the id');
    t.same(ids(await list('?q=reverse-shell')), ids({ captures: [...more].reverse() }), 'the policy');
    t.same(ids(await list('?q=nothing-like-this')), []);
  });

  await t.test('phase, alone and with the other filters', async (t) => {
    t.same(ids(await list('?phase=Sealed')), [ledger.id, miner.id]);
    t.same(ids(await list('?phase=Failed')), [web.id]);
    t.same(
      ids(await list('?phase=Pending')),
      newestFirst.filter((id) => ![web.id, miner.id, ledger.id].includes(id)),
    );
    t.same(ids(await list('?phase=Sealed&namespace=shop')), [miner.id]);
    t.same(ids(await list('?phase=Pending&policy=interactive-shell')), [shell.id]);
    t.same(ids(await list('?phase=Sealed&indicator=reverse-shell')), [ledger.id]);
  });

  await t.test('paging with before/limit/more walks every capture once', async (t) => {
    const seen: string[] = [];
    let before: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await list(`?limit=3${before === undefined ? '' : `&before=${before}`}`);
      seen.push(...ids(page));
      pages++;
      if (!page.more) break;
      before = seen.at(-1);
      if (pages > 10) break;
    }
    t.same(seen, newestFirst);
    t.equal(pages, 3);

    const first = await list('?policy=reverse-shell&limit=2');
    t.same(ids(first), newestFirst.slice(0, 2));
    t.equal(first.more, true);
    const second = await list(`?policy=reverse-shell&limit=2&before=${first.captures[1]?.id}`);
    t.same(ids(second), newestFirst.slice(2, 4));
    t.equal(second.more, true);
    const third = await list(`?policy=reverse-shell&limit=2&before=${second.captures[1]?.id}`);
    t.same(ids(third), newestFirst.slice(4, 5));
    t.equal(third.more, false);
    const afterShell = await list(`?namespace=payments&before=${shell.id}`);
    t.same(ids(afterShell), [ledger.id], 'before a capture of another page: the filter still holds');
    t.same(ids(await list(`?before=${web.id}`)), [], 'nothing before the oldest');
    t.same(ids(await list('?before=0000000000000000000000000z')), [], 'an unknown id: nothing');
  });

  await t.test('bad filters are 422', async (t) => {
    for (const q of ['?limit=0', '?limit=1001', '?phase=Nope', '?colour=red', `?q=${'x'.repeat(257)}`]) {
      const res = await app.call('GET', `/v1/captures${q}`, { token: TOKEN });
      t.equal(res.status, 422, q.slice(0, 40));
    }
  });
});

/** The page's event stream, as the evidence browser opens it (its own connection, closed at teardown). */
function openEvents(t: { teardown(fn: () => unknown): void }, url: string, cookie: string): Promise<import('node:http').IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/captures/events`, { headers: { cookie }, agent: false }, resolve);
    req.on('error', reject);
    req.end();
    t.teardown(() => req.destroy());
  });
}

t.test('GET /v1/captures/events: server-sent events of captures as they change', async (t) => {
  const { app, queue, add } = await setup(t);
  const before = await add({ namespace: 'shop', pod: 'old-1', policy: 'interactive-shell' });
  const { cookie } = await app.signIn();
  let text = '';
  const res = await openEvents(t, app.url, cookie);
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/event-stream/);
  t.equal(res.headers['cache-control'], 'no-store');
  res.setEncoding('utf8');
  res.on('data', (s: string) => (text += s));
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
    t.ok(ok(), what);
  };
  const events = () =>
    text
      .split('\n\n')
      .filter((b) => b.startsWith('event: capture\n'))
      .map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)) as Capture);

  await until('the stream opens with retry and a comment', () => text.startsWith('retry: 2000\n: open\n\n'));
  // the first poll learns what is there; wait for it to pass before anything changes
  await new Promise((r) => setTimeout(r, 300));
  const fresh = await add({ namespace: 'shop', pod: 'new-1', policy: 'interactive-shell' });
  await until('a new capture is told', () => events().some((c) => c.id === fresh.id));
  const told = events().find((c) => c.id === fresh.id);
  t.match(told, { id: fresh.id, spec: { target: { namespace: 'shop', pod: 'new-1' } }, status: { phase: 'Pending' } });
  t.notOk(told && 'signals' in told, 'a summary, without the signals');
  t.notOk(
    events().some((c) => c.id === before.id),
    'a capture that did not change is not told',
  );

  await queue.updateStatus(fresh.id, {
    ...fresh.status,
    phase: 'Failed',
    reason: 'Timeout',
    phaseTimes: { ...fresh.status.phaseTimes, Failed: new Date().toISOString() },
  });
  await until('its change of phase is told', () => events().some((c) => c.id === fresh.id && c.status.phase === 'Failed'));
  res.destroy();
  await until('the stream is logged with its user once it ends', () => app.logs.find('evidence browser request').length > 0);
  t.match(app.logs.find('evidence browser request')[0], { user: 'token:1', via: 'session', route: '/v1/captures/events', status: 200, cut: true });
});

t.test('a server that stops while a page holds the event stream ends the stream and stops at once', async (t) => {
  const { app } = await setup(t);
  const { cookie } = await app.signIn();
  const res = await openEvents(t, app.url, cookie);
  t.equal(res.statusCode, 200);
  const ended = new Promise<void>((r) => res.on('end', r).resume());
  const started = Date.now();
  await Promise.race([app.close(), new Promise((r) => setTimeout(r, 5000))]);
  // without ending it, close() waits for the page to leave: a SIGTERM ran out its grace period
  t.ok(Date.now() - started < 2000, `closed in ${Date.now() - started} ms`);
  await ended;
  t.pass('the stream ended');
});

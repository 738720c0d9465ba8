/**
 * Watching Captures: the raw stream (event order, selectors, 410 Expired, timeoutSeconds,
 * bookmarks) and what @kubernetes/client-node 2.0.1's Watch and makeInformer do with it —
 * in particular that an informer relists by itself after a 410 and loses no Capture.
 */
import t from 'tap';
import { CustomObjectsApi, KubeConfig, PatchStrategy, Watch, makeInformer, setHeaderOptions } from '@kubernetes/client-node';
import { startSimCluster, type SimCluster } from '../sim/sim-cluster.js';
import { https, sleep } from './helpers.js';

type Obj = Record<string, any>;
const G = { group: 'forensics.amber.dev', version: 'v1alpha1', plural: 'captures' } as const;
const path = (ns: string) => `/apis/${G.group}/${G.version}/namespaces/${ns}/captures`;

let sim: SimCluster;
let kc: KubeConfig;
let api: CustomObjectsApi;
t.before(async () => {
  sim = await startSimCluster();
  kc = new KubeConfig();
  kc.loadFromFile(sim.kubeconfigPath);
  api = kc.makeApiClient(CustomObjectsApi);
});
t.teardown(() => sim.close());

const capture = (name: string, labels: Record<string, string> = {}): Obj => ({
  apiVersion: `${G.group}/${G.version}`,
  kind: 'Capture',
  metadata: { name, labels },
  spec: { target: { node: 'node-a' } },
});
const create = async (ns: string, name: string, labels: Record<string, string> = {}) =>
  api.createNamespacedCustomObject({ ...G, namespace: ns, body: capture(name, labels) }) as Promise<Obj>;
const listRv = async (ns: string) => ((await api.listNamespacedCustomObject({ ...G, namespace: ns })) as Obj).metadata.resourceVersion as string;
const rawGet = (p: string) => https(`${sim.apiUrl}${p}`, { ca: sim.caCert, token: sim.token });
const lines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Obj);

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

/** client-node's Watch from `resourceVersion`, collecting `TYPE name` until stopped. */
async function watch(ns: string, params: Record<string, string>): Promise<{ events: string[]; objects: Obj[]; stop: () => void }> {
  const events: string[] = [];
  const objects: Obj[] = [];
  const ctl = await new Watch(kc).watch(
    path(ns),
    params,
    (type, o: Obj) => {
      events.push(`${type} ${o.metadata?.name ?? ''}`);
      objects.push(o);
    },
    () => {
      /* ended */
    },
  );
  return { events, objects, stop: () => ctl.abort() };
}

t.test('a watch delivers ADDED, MODIFIED and DELETED in order, each with a newer resourceVersion', async (t) => {
  const rv = await listRv('w1');
  const w = await watch('w1', { resourceVersion: rv });
  t.teardown(w.stop);
  const o = await create('w1', 'cap-1');
  await api.patchNamespacedCustomObjectStatus(
    { ...G, namespace: 'w1', name: 'cap-1', body: { status: { phase: 'Checkpointing' } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await create('w1', 'cap-2');
  await api.deleteNamespacedCustomObject({ ...G, namespace: 'w1', name: 'cap-1' });
  await until('four events', () => w.events.length >= 4);
  t.same(w.events, ['ADDED cap-1', 'MODIFIED cap-1', 'ADDED cap-2', 'DELETED cap-1']);
  const rvs = w.objects.map((x) => Number(x.metadata.resourceVersion));
  t.same(
    [...rvs].sort((a, b) => a - b),
    rvs,
    'resourceVersions increase',
  );
  t.ok(rvs[0]! > Number(rv));
  t.equal(w.objects[1]!.status.phase, 'Checkpointing');
  t.equal(w.objects[3]!.metadata.uid, o.metadata.uid, 'DELETED carries the last state of the object');
  t.ok(rvs[3]! > rvs[2]!, 'and the resourceVersion of the deletion');

  const replay = await watch('w1', { resourceVersion: rv });
  t.teardown(replay.stop);
  await until('the remembered events replayed', () => replay.events.length >= 4);
  t.same(replay.events, w.events, 'a watch from an older resourceVersion first replays what it missed');
});

t.test('a label-selected watch: an object entering the selector is ADDED, one leaving it is DELETED', async (t) => {
  const rv = await listRv('w2');
  const w = await watch('w2', { resourceVersion: rv, labelSelector: 'forensics.amber.dev/node=node-a' });
  t.teardown(w.stop);
  const other = await create('w2', 'cap-b', { 'forensics.amber.dev/node': 'node-b' });
  await create('w2', 'cap-a', { 'forensics.amber.dev/node': 'node-a' });
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  await api.patchNamespacedCustomObject(
    { ...G, namespace: 'w2', name: 'cap-b', body: { metadata: { labels: { 'forensics.amber.dev/node': 'node-a' } } } },
    merge,
  );
  await api.patchNamespacedCustomObject(
    { ...G, namespace: 'w2', name: 'cap-a', body: { metadata: { labels: { 'forensics.amber.dev/node': 'node-c' } } } },
    merge,
  );
  await until('three events', () => w.events.length >= 3);
  await sleep(50);
  t.same(w.events, ['ADDED cap-a', 'ADDED cap-b', 'DELETED cap-a']);
  t.ok(other);
});

t.test('a watch without resourceVersion starts with ADDED for every object, then goes live', async (t) => {
  await create('w3', 'cap-x');
  await create('w3', 'cap-y');
  const w = await watch('w3', {});
  t.teardown(w.stop);
  await create('w3', 'cap-z');
  await until('three events', () => w.events.length >= 3);
  t.same(w.events, ['ADDED cap-x', 'ADDED cap-y', 'ADDED cap-z']);
});

t.test('a watch from an expired resourceVersion: one ERROR 410 event, then the stream ends', async (t) => {
  const rv = await listRv('w4');
  await create('w4', 'cap-old');
  sim.expireWatchHistory();
  // timeoutSeconds only so that a regression fails fast instead of hanging
  const r = await rawGet(`${path('w4')}?watch=1&resourceVersion=${rv}&timeoutSeconds=2`);
  t.equal(r.status, 200, 'the error travels inside the stream, not as the HTTP status');
  t.equal(r.headers['content-type'], 'application/json');
  t.equal(r.headers['transfer-encoding'], 'chunked');
  const oldest = sim.captures('w4')[0]!.metadata.resourceVersion as string;
  t.equal(
    r.text,
    `${JSON.stringify({
      type: 'ERROR',
      object: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${rv} (${oldest})`,
        reason: 'Expired',
        code: 410,
      },
    })}\n`,
  );
  const current = await watch('w4', { resourceVersion: oldest });
  await sleep(100);
  current.stop();
  t.same(current.events, [], 'a watch from the newest resourceVersion is fine: nothing missed, nothing to send');

  sim.faults.watchWindow = 2;
  t.teardown(() => {
    sim.faults.watchWindow = 100;
  });
  const before = await listRv('w4');
  for (const n of ['cap-1', 'cap-2', 'cap-3']) await create('w4', n);
  const windowed = lines((await rawGet(`${path('w4')}?watch=1&resourceVersion=${before}&timeoutSeconds=2`)).text);
  t.equal(windowed[0]?.type, 'ERROR', 'three writes do not fit a window of two');
  t.match(windowed[0]?.object.message, new RegExp(`^too old resource version: ${before} \\(\\d+\\)$`));
  const second = sim.captures('w4').find((c) => c.metadata.name === 'cap-1')!.metadata.resourceVersion;
  const fits = await watch('w4', { resourceVersion: second });
  t.teardown(fits.stop);
  await until('two events', () => fits.events.length >= 2);
  t.same(fits.events, ['ADDED cap-2', 'ADDED cap-3'], 'a resourceVersion inside the window replays the rest');
});

t.test('timeoutSeconds ends the stream; allowWatchBookmarks adds BOOKMARK events', async (t) => {
  sim.faults.watchBookmarkMs = 300;
  t.teardown(() => {
    sim.faults.watchBookmarkMs = 60_000;
  });
  const rv = await listRv('w5');
  const started = Date.now();
  const [r, p] = await Promise.all([
    rawGet(`${path('w5')}?watch=1&resourceVersion=${rv}&timeoutSeconds=1&allowWatchBookmarks=true`),
    rawGet(`${path('w5')}?watch=1&resourceVersion=${rv}&timeoutSeconds=1`),
  ]);
  const took = Date.now() - started;
  t.ok(took >= 950 && took < 2500, `ended after about a second (${took} ms)`);
  const evs = lines(r.text);
  t.ok(evs.length >= 3, 'periodic bookmarks and a last one before the timeout');
  t.ok(evs.every((e) => e.type === 'BOOKMARK'));
  t.same(evs.at(-1), { type: 'BOOKMARK', object: { apiVersion: 'forensics.amber.dev/v1alpha1', kind: 'Capture', metadata: { resourceVersion: rv } } });
  t.same(lines(p.text), [], 'no bookmarks unless asked for');
});

t.test('informer: after a 410 it relists by itself, reports every Capture, and keeps watching', async (t) => {
  await create('inf', 'cap-a');
  await create('inf', 'cap-b');
  let lists = 0;
  const informer = makeInformer<Obj & { metadata: Obj }>(kc, path('inf'), () => {
    lists++;
    return api.listNamespacedCustomObject({ ...G, namespace: 'inf' });
  });
  const log: string[] = [];
  for (const ev of ['add', 'update', 'delete'] as const) informer.on(ev, (o) => log.push(`${ev} ${o.metadata.name}`));
  informer.on('connect', () => log.push('connect'));
  informer.on('error', (e: unknown) => log.push(`error ${(e as Error)?.name}`));
  await informer.start();
  t.teardown(() => informer.stop());
  await until('the initial list', () => informer.list().length === 2);
  await create('inf', 'cap-c');
  await until('cap-c', () => log.includes('add cap-c'));

  // Between the stream ending and the client watching again: writes, then the history is forgotten.
  // The client resumes from its last resourceVersion, which is now too old.
  log.length = 0;
  t.equal(sim.endWatches('close'), 1);
  sim.addCapture({ ...capture('cap-d'), metadata: { name: 'cap-d', namespace: 'inf' } });
  sim.addCapture({ ...capture('cap-e'), metadata: { name: 'cap-e', namespace: 'inf' }, status: { phase: 'Uploading' } });
  sim.deleteCapture('inf', 'cap-a');
  sim.expireWatchHistory();
  await until('the relist', () => informer.list().length === 4);
  t.equal(lists, 2, 'listed once at start and once after the 410');
  t.same(
    informer
      .list()
      .map((o) => o.metadata.name)
      .sort(),
    ['cap-b', 'cap-c', 'cap-d', 'cap-e'],
    'no Capture lost',
  );
  t.same(log.filter((l) => l !== 'connect').sort(), ['add cap-d', 'add cap-e', 'delete cap-a']);
  t.equal(log.filter((l) => l === 'connect').length, 2, "'connect' after the close and again after the 410");
  t.notOk(
    log.some((l) => l.startsWith('error')),
    'a 410 is not reported as an error',
  );

  // after the relist the informer waits (its reconnect backoff, 1 s here) and then watches from the list's resourceVersion
  await until('watching again', () => sim.openWatches() === 1, 3000);
  await create('inf', 'cap-f');
  await until('cap-f', () => log.includes('add cap-f'));
  t.equal(lists, 2, 'live again without another list');
});

t.test('informer: a reset connection is an error and the informer stops; stop() reports AbortError', async (t) => {
  await create('inf2', 'cap-a');
  const informer = makeInformer<Obj & { metadata: Obj }>(kc, path('inf2'), () => api.listNamespacedCustomObject({ ...G, namespace: 'inf2' }));
  const errors: string[] = [];
  informer.on('error', (e: unknown) => errors.push(`${(e as Error).name}: ${(e as Error).message}`));
  const added: string[] = [];
  informer.on('add', (o) => added.push(o.metadata.name));
  await informer.start();
  await until('watching', () => sim.openWatches() === 1);

  sim.endWatches('reset');
  await until('the error', () => errors.length === 1);
  t.match(errors[0], /^TypeError: terminated$/, 'undici reports the broken stream');
  await sleep(300);
  t.equal(sim.openWatches(), 0, 'it does not reconnect by itself after an error');
  await create('inf2', 'cap-b');
  await sleep(100);
  t.notOk(added.includes('cap-b'), 'so it misses changes until started again');

  await informer.start();
  await until('cap-b after start()', () => added.includes('cap-b'));
  t.equal(informer.list().length, 2);

  await informer.stop();
  await until('the stop error', () => errors.length === 2);
  t.match(errors[1], /^AbortError: /, 'stop() aborts the watch and that is reported through the error handler too');
  await sleep(50);
  t.equal(sim.openWatches(), 0);
});

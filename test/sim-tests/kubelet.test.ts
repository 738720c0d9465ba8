import t from 'tap';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startSimCluster, FORBIDDEN_USER, RUNTIME_ERRORS, type SimCluster } from '../sim/sim-cluster.js';
import { https, listTarUntilEnd, readTar, sleep } from './helpers.js';

type Obj = Record<string, any>;

let sim: SimCluster;
let appId = '';
t.before(async () => {
  sim = await startSimCluster({ nodes: ['node-a', 'node-b'] });
  const pod = sim.addPod({
    namespace: 'shop',
    name: 'web',
    node: 'node-a',
    containers: [
      { name: 'app', image: 'ghcr.io/acme/app:1.4.2' },
      { name: 'metrics', image: 'quay.io/prom/statsd-exporter:v0.26.0', running: false },
    ],
  }) as Obj;
  appId = String(pod.status.containerStatuses[0].containerID).replace('containerd://', '');
  sim.addPod({ namespace: 'shop', name: 'worker', node: 'node-b', containers: [{ name: 'worker', image: 'ghcr.io/acme/worker:2.0' }] });
});
t.teardown(() => sim.close());
t.beforeEach(() => {
  Object.assign(sim.faults, {
    apiDown: false,
    kubeletDown: false,
    checkpointError: undefined,
    checkpointDelayMs: 0,
    rejectToken: false,
    checkpointFeatureOff: false,
    tcpEstablishedMissing: false,
  });
  sim.archive.runtimeDefaultTimeoutSeconds = 120;
  for (const n of ['node-a', 'node-b']) for (const f of readdirSync(sim.checkpointDir(n))) rmSync(join(sim.checkpointDir(n), f));
});

interface CpOpts {
  node?: string;
  path?: string;
  query?: string;
  token?: string | null;
  method?: string;
  headers?: Record<string, string>;
}
const cp = (o: CpOpts = {}) =>
  https(`https://127.0.0.1:${sim.kubeletPort(o.node ?? 'node-a')}/checkpoint/${o.path ?? 'shop/web/app'}${o.query ?? ''}`, {
    method: o.method ?? 'POST',
    ca: sim.caCert,
    token: o.token === null ? undefined : (o.token ?? sim.token),
    headers: o.headers,
  });
const now = () => performance.timeOrigin + performance.now();
const newestArchive = (node = 'node-a') => readdirSync(sim.checkpointDir(node));

t.test('a checkpoint: 200 {"items":[path]}, the archive in the node checkpoint dir, a receipt', async (t) => {
  t.equal(sim.caCert, readFileSync(sim.caFile, 'utf8'), 'caFile holds the CA the kubelet cert chains to');
  const before = now();
  const r = await cp({ query: '?timeout=30' });
  const after = now();
  t.equal(r.status, 200);
  t.equal(r.headers['content-type'], 'application/json');
  const path = r.json<{ items: string[] }>().items[0] ?? '';
  t.equal(r.text, `{"items":["${path}"]}`, 'byte for byte the kubelet body');
  t.match(
    path,
    new RegExp(`^${sim.checkpointDir('node-a')}/checkpoint-web_shop-app-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\+02:00\\.tar$`),
    "named in the kubelet's local time (the sim's default zone: +02:00)",
  );
  t.equal(statSync(path).mode & 0o777, 0o600, 'archive readable by its owner only');
  const names = (await readTar(path)).map((e) => e.header.name);
  t.ok(names.includes('checkpoint/pages-1.img') && names.includes('config.dump'));
  const rec = sim.receipts.at(-1);
  t.match(rec, { node: 'node-a', namespace: 'shop', pod: 'web', container: 'app', timeoutSeconds: 30, status: 200, path });
  t.ok(rec && rec.receivedAt >= before && rec.receivedAt <= after, 'receivedAt is taken on arrival');
});

t.test("the pod on another node: that node's kubelet, that node's directory", async (t) => {
  const wrong = await cp({ path: 'shop/worker/worker' });
  t.equal(wrong.status, 404);
  t.equal(wrong.text, 'pod does not exist', "node-a's kubelet does not know node-b's pods");
  const r = await cp({ node: 'node-b', path: 'shop/worker/worker' });
  t.equal(r.status, 200);
  t.ok(r.json<{ items: string[] }>().items[0]?.startsWith(sim.checkpointDir('node-b') + '/checkpoint-worker_shop-worker-'));
});

t.test('401 and 403 as the kubelet writes them', async (t) => {
  for (const token of [null, 'bogus']) {
    const r = await cp({ token });
    t.equal(r.status, 401);
    t.equal(r.text, 'Unauthorized');
    t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  }
  sim.faults.rejectToken = true;
  t.equal((await cp()).status, 401, 'rejectToken: the good token too');
  sim.faults.rejectToken = false;
  const f = await cp({ token: sim.forbiddenToken });
  t.equal(f.status, 403);
  t.equal(f.text, `Forbidden (user=${FORBIDDEN_USER}, verb=create, resource=nodes, subresource(s)=[checkpoint])\n`);
  const g = await cp({ token: sim.forbiddenToken, method: 'GET' });
  t.equal(g.text, `Forbidden (user=${FORBIDDEN_USER}, verb=get, resource=nodes, subresource(s)=[checkpoint])\n`);
  t.same(newestArchive(), [], 'nothing written');
});

t.test('404s, 405, 406', async (t) => {
  const c = await cp({ path: 'shop/web/nope' });
  t.same([c.status, c.text], [404, 'container nope does not exist']);
  t.same([(await cp({ path: 'shop/gone/app' })).text], ['pod does not exist']);
  t.same([(await cp({ path: 'shop/%E0%A4%A/app' })).status], [404], 'a malformed escape: no route, no crash');
  const short = await cp({ path: 'shop/web' });
  t.same([short.status, short.text], [404, '404: Page Not Found'], 'go-restful: no route');
  const other = await https(`https://127.0.0.1:${sim.kubeletPort('node-a')}/containerLogs/shop/web/app`, { ca: sim.caCert, token: sim.token });
  t.same([other.status, other.text], [404, '404 page not found\n'], 'not simulated: an unregistered path');
  const get = await cp({ method: 'GET' });
  t.same([get.status, get.text, get.headers.allow], [405, '405: Method Not Allowed', 'POST']);
  const html = await cp({ headers: { accept: 'text/html' } });
  t.same([html.status, html.text], [406, '406: Not Acceptable\n\nAvailable representations: application/json']);
  t.equal((await cp({ headers: { accept: 'text/html, application/json;q=0.9' } })).status, 200, 'application/json among others is fine');
});

t.test('feature gate off: an unregistered route, answered before auth', async (t) => {
  sim.faults.checkpointFeatureOff = true;
  for (const token of [sim.token, null]) {
    const r = await cp({ token });
    t.same([r.status, r.text, r.headers['content-type']], [404, '404 page not found\n', 'text/plain; charset=utf-8']);
  }
  t.equal(sim.receipts.at(-1)?.status, 404);
});

t.test('timeout parameter: parse errors are 404, negative is refused, the last value wins', async (t) => {
  t.same([(await cp({ query: '?timeout=abc' })).text], ['cannot parse value of timeout parameter']);
  t.equal((await cp({ query: '?timeout=10&timeout=1.5' })).status, 404);
  const neg = await cp({ query: '?timeout=-1' });
  t.same([neg.status, neg.text], [500, 'checkpointing of shop/web/app failed (CheckpointContainer requires the timeout value to be > 0)']);
  const ok = await cp({ query: '?timeout=x&timeout=15' });
  t.equal(ok.status, 200);
  t.equal(sim.receipts.at(-1)?.timeoutSeconds, 15);
});

t.test('a container that is not running: the runtime does not list it', async (t) => {
  const r = await cp({ path: 'shop/web/metrics' });
  t.same([r.status, r.text], [500, 'checkpointing of shop/web/metrics failed (container metrics not found)']);
});

t.test('runtime failure: 500 with the runtime text', async (t) => {
  sim.faults.checkpointError = RUNTIME_ERRORS.notImplemented;
  const r = await cp();
  t.same([r.status, r.text], [500, 'checkpointing of shop/web/app failed (rpc error: code = Unimplemented desc = method CheckpointContainer not implemented)']);
  t.same(newestArchive(), []);
  t.equal(sim.receipts.at(-1)?.status, 500);
});

t.test('slow checkpoint: the receipt at once, the archive and the answer after the delay', async (t) => {
  sim.faults.checkpointDelayMs = 700;
  const start = now();
  const pending = cp();
  await sleep(300);
  t.equal(sim.receipts.at(-1)?.status, 0, 'in flight');
  t.ok((sim.receipts.at(-1)?.receivedAt ?? Infinity) - start < 250, 'received before the delay');
  t.same(newestArchive(), [], 'no archive yet');
  const r = await pending;
  t.equal(r.status, 200);
  t.ok(now() - start >= 690);
  t.equal(newestArchive().length, 1);
});

t.test('past the deadline: 500 DeadlineExceeded after the effective timeout', async (t) => {
  sim.archive.runtimeDefaultTimeoutSeconds = 1;
  sim.faults.checkpointDelayMs = 2500;
  const start = now();
  const r = await cp({ query: '?timeout=1' });
  const took = now() - start;
  t.same([r.status, r.text], [500, `checkpointing of shop/web/app failed (${RUNTIME_ERRORS.deadline})`]);
  t.ok(took >= 990 && took < 2000, `answered at the 1 s deadline (${Math.round(took)} ms)`);
  t.same(newestArchive(), []);
});

t.test('a timeout below the runtime default is raised to it; above it is used', async (t) => {
  sim.archive.runtimeDefaultTimeoutSeconds = 2;
  sim.faults.checkpointDelayMs = 1300;
  t.equal((await cp({ query: '?timeout=1' })).status, 200, 'timeout=1 → 2 s: the 1.3 s checkpoint completes');
  sim.archive.runtimeDefaultTimeoutSeconds = 1;
  t.equal((await cp({ query: '?timeout=2' })).status, 200, 'timeout=2 above the 1 s default: used');
  t.equal((await cp()).status, 500, 'no timeout: the 1 s default applies');
});

t.test('two overlapping checkpoints of one container: the second fails', async (t) => {
  sim.faults.checkpointDelayMs = 500;
  const [a, b] = await Promise.all([cp(), sleep(100).then(() => cp())]);
  t.equal(a.status, 200);
  t.equal(b.status, 500);
  t.match(b.text, `checkpointing of shop/web/app failed (rpc error: code = Unknown desc = failed to pause container "${appId}" before checkpointing: `);
  t.ok(
    b.text.endsWith('level=error msg="container not running"\n : container process not found)'),
    "runc's answer: the first checkpoint holds the container paused",
  );
});

t.test('two checkpoints in one second: same name, the second overwrites the first in place (no truncation)', async (t) => {
  let p1 = '',
    p2 = '';
  for (let attempt = 0; attempt < 5 && (p1 === '' || p1 !== p2); attempt++) {
    for (const f of newestArchive()) rmSync(join(sim.checkpointDir('node-a'), f));
    while (Date.now() % 1000 > 150) await sleep(20); // both requests inside one wall-clock second (retried if a slow machine crosses it)
    sim.archive.pagesBytes = 512 * 1024;
    const first = await cp();
    sim.archive.pagesBytes = 256 * 1024;
    const second = await cp();
    t.same([first.status, second.status], [200, 200]);
    p1 = first.json<{ items: string[] }>().items[0] ?? '';
    p2 = second.json<{ items: string[] }>().items[0] ?? '';
  }
  t.equal(p2, p1, 'one-second resolution: the same path twice, both 200');
  t.equal(newestArchive().length, 1);
  const entries = listTarUntilEnd(p1);
  t.equal(entries.find((e) => e.name === 'checkpoint/pages-1.img')?.size, 256 * 1024, 'a tar reader (stopping at the end marker) sees the second archive');
  const end = entries.reduce((n, e) => Math.max(n, e.offset + Math.ceil(e.size / 512) * 512), 0) + 1024;
  t.ok(statSync(p1).size > end, 'but the file still holds the tail of the first one after it: its bytes are neither archive');
});

t.test('the pod deleted while the checkpoint runs', async (t) => {
  sim.addPod({ namespace: 'shop', name: 'doomed', node: 'node-a', containers: [{ name: 'c', image: 'alpine:3.20' }] });
  sim.faults.checkpointDelayMs = 400;
  const pending = cp({ path: 'shop/doomed/c' });
  await sleep(100);
  sim.deletePod('shop', 'doomed');
  const r = await pending;
  t.equal(r.status, 500);
  t.match(
    r.text,
    /^checkpointing of shop\/doomed\/c failed \(rpc error: code = NotFound desc = an error occurred when trying to find container "[0-9a-f]{64}": not found\)$/,
  );
});

t.test('kubeletDown: sockets destroyed, nothing received', async (t) => {
  sim.faults.kubeletDown = true;
  const n = sim.receipts.length;
  await t.rejects(cp(), /socket hang up|ECONNRESET|disconnected/);
  t.equal(sim.receipts.length, n);
  sim.faults.kubeletDown = false;
  t.equal((await cp()).status, 200);
});

t.test('CRI-O layout: same API, CRI-O archive', async (t) => {
  sim.archive.layout = 'crio';
  t.teardown(() => {
    sim.archive.layout = 'containerd';
  });
  const r = await cp();
  const names = (await readTar(r.json<{ items: string[] }>().items[0] ?? '')).map((e) => e.header.name);
  t.ok(names.includes('io.kubernetes.cri-o.LogPath') && names.includes('bind.mounts'));
  t.notOk(existsSync(join(sim.checkpointDir('node-a'), 'nope')));
});

t.test('close() during a slow checkpoint: returns at once, the request is dropped, root removed', async (t) => {
  const other = await startSimCluster();
  other.addPod({ namespace: 'x', name: 'p', node: 'node-a', containers: [{ name: 'c', image: 'alpine:3.20' }] });
  other.faults.checkpointDelayMs = 60_000;
  const pending = https(`https://127.0.0.1:${other.kubeletPort('node-a')}/checkpoint/x/p/c`, { method: 'POST', ca: other.caCert, token: other.token }).then(
    () => 'answered',
    () => 'dropped',
  );
  await sleep(150);
  const started = Date.now();
  await other.close();
  t.ok(Date.now() - started < 1000, 'close() does not wait for the runtime');
  t.equal(await pending, 'dropped');
  t.notOk(existsSync(other.root));
});

t.test("archive names follow the nodes' time zone: Z at offset 0, the offset otherwise, an IANA zone at that instant", async (t) => {
  for (const [timeZone, suffix] of [
    ['UTC', 'Z'],
    ['-03:30', '-03:30'],
    ['Asia/Kolkata', '+05:30'],
  ] as const) {
    const other = await startSimCluster({ timeZone });
    t.teardown(() => other.close());
    other.addPod({ namespace: 'x', name: 'p', node: 'node-a', containers: [{ name: 'c', image: 'alpine:3.20' }] });
    const before = Date.now();
    const r = await https(`https://127.0.0.1:${other.kubeletPort('node-a')}/checkpoint/x/p/c`, { method: 'POST', ca: other.caCert, token: other.token });
    const name = r.json<{ items: string[] }>().items[0]?.split('/').pop() ?? '';
    const time = /-(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d))\.tar$/.exec(name)?.[1] ?? '';
    t.ok(time.endsWith(suffix), `${timeZone}: ${name}`);
    t.ok(Math.abs(Date.parse(time) - before) < 2000, `${time} is the same instant, in local time`);
  }
  await t.rejects(startSimCluster({ timeZone: 'Mars/Olympus' }), /unknown time zone/);
});

// Each recorded answer of a real kubelet (test/fixtures/real-kubelet/) replayed against the
// simulated one: same status, same headers (but Date and HTTP/1.1's connection headers: the real
// kubelet spoke HTTP/2), same body bytes once the parts that differ by nature — archive directory
// and time, container id, user, the runtime log's time — are put in place.
// Not replayed: 13 (the API server's nodes/proxy refusing the kubelet's address: amber never
// goes through the proxy), 10/11/31 (archive listings and a restore, not HTTP answers).
import { statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import t from 'tap';
import { readCurlAnswer, readStatusBodyAnswers, runtimeTextParts, type RealAnswer } from '../helpers/real-kubelet.js';
import { FORBIDDEN_USER, startSimCluster, type SimCluster } from '../sim/sim-cluster.js';
import { https, type HttpResult } from './helpers.js';

type Obj = Record<string, any>;
type Asserts = Pick<typeof t, 'equal' | 'same' | 'ok' | 'match'>;

let sim: SimCluster;
const ids = new Map<string, string>();
t.before(async () => {
  sim = await startSimCluster({ nodes: ['node-a'], timeZone: '+02:00' });
  // the pods the real answers were taken from
  for (const [ns, name] of [
    ['kube-real', 'victim'],
    ['payments', 'tcp-holder'],
  ] as const) {
    const pod = sim.addPod({ namespace: ns, name, node: 'node-a', containers: [{ name: 'app', image: 'docker.io/library/busybox:1.36' }] }) as Obj;
    ids.set(`${ns}/${name}/app`, String(pod.status.containerStatuses[0].containerID).replace(/^[a-z-]+:\/\//, ''));
  }
});
t.teardown(() => sim.close());
t.beforeEach(() => Object.assign(sim.faults, { checkpointDelayMs: 0, tcpEstablishedMissing: false }));

const post = (path: string, o: { token?: string | null; method?: string } = {}) =>
  https(`https://127.0.0.1:${sim.kubeletPort('node-a')}/checkpoint/${path}`, {
    method: o.method ?? 'POST',
    ca: sim.caCert,
    token: o.token === null ? undefined : (o.token ?? sim.token),
  });

/** Headers that carry meaning: all but Date and HTTP/1.1 connection management. */
function meaningful(h: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h))
    if (!['date', 'connection', 'keep-alive', 'transfer-encoding'].includes(k.toLowerCase()) && v !== undefined) out[k.toLowerCase()] = String(v);
  return out;
}

function sameAnswer(t: Asserts, got: HttpResult, real: RealAnswer, body: string = real.body): void {
  t.equal(got.status, real.status, `${real.file}: status`);
  t.equal(got.text, body, `${real.file}: body, byte for byte`);
  t.same(meaningful(got.headers), { ...meaningful(real.headers), 'content-length': String(Buffer.byteLength(got.text)) }, `${real.file}: headers`);
}

const RFC3339 = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)/;
/** A sim time: this run's zone (+02:00), within the request's wall-clock window. */
function checkLocalTime(t: Asserts, time: string, from: number, to: number): void {
  t.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+02:00$/, 'local time with its offset');
  const at = Date.parse(time);
  t.ok(at >= Math.floor(from / 1000) * 1000 && at <= to, `${time} is the time of the request`);
}

t.test('fixed texts: 401, 403, 404s, 405 — same status, headers and bytes', async (t) => {
  const cases: [string, () => Promise<HttpResult>, (body: string) => string][] = [
    ['02-nocreds.txt', () => post('kube-real/victim/app', { token: null }), (b) => b],
    ['21-bad-token.txt', () => post('kube-real/victim/app', { token: 'not-a-token' }), (b) => b],
    ['03-norbac.txt', () => post('kube-real/victim/app', { token: sim.forbiddenToken }), (b) => b.replace(/user=[^,]+/, `user=${FORBIDDEN_USER}`)],
    ['04-unknown-pod.txt', () => post('kube-real/nosuch/app'), (b) => b],
    ['08-get.txt', () => post('kube-real/victim/app', { method: 'GET' }), (b) => b],
    ['09-short.txt', () => post('kube-real/victim'), (b) => b],
    ['12-badtimeout.txt', () => post('kube-real/victim/app?timeout=abc'), (b) => b],
  ];
  for (const [file, request, expected] of cases) {
    const real = readCurlAnswer(file);
    sameAnswer(t, await request(), real, expected(real.body));
  }
  const unknownCtr = readCurlAnswer('05-unknown-ctr.txt');
  const name = /^container (\S+) does not exist$/.exec(unknownCtr.body)?.[1] ?? '';
  sameAnswer(t, await post(`kube-real/victim/${name}`), unknownCtr);
  t.equal(sim.receipts.filter((r) => r.status === 200).length, 0, 'none of them checkpointed');
});

t.test("200: the archive path in the kubelet's local time with its offset, written 0600", async (t) => {
  for (const file of ['01-sa-ok.txt', '06-cert-user.txt', '07-admin.txt', '30-runc136-ok.txt']) {
    const real = readCurlAnswer(file);
    const realPath = (JSON.parse(real.body) as { items: string[] }).items[0] ?? '';
    const before = Date.now();
    const got = await post('kube-real/victim/app');
    const after = Date.now();
    const path = got.json<{ items: string[] }>().items[0] ?? '';
    t.equal(dirname(path), sim.checkpointDir('node-a'));
    const time = RFC3339.exec(basename(path))?.[0] ?? '';
    checkLocalTime(t, time, before, after);
    const expected = real.body.replace(dirname(realPath), dirname(path)).replace(RFC3339, time);
    sameAnswer(t, got, real, expected);
    t.equal(statSync(path).mode & 0o777, 0o600, 'mode 0600, as CRI-O and containerd open it');
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20)); // next second: a new name
  }
});

t.test('three parallel requests on one container: one 200, two 500s with runc\'s "container process not found"', async (t) => {
  const real = readStatusBodyAnswers('16-parallel-3-requests.txt');
  t.same(
    real.map((a) => a.status),
    [200, 500, 500],
    'the recording: one 200, two 500s',
  );
  sim.faults.checkpointDelayMs = 300; // the real checkpoint took 0.3 s
  const before = Date.now();
  const got = await Promise.all([0, 1, 2].map(() => post('kube-real/victim/app')));
  const after = Date.now();
  t.same(got.map((g) => g.status).sort(), [200, 500, 500]);
  const id = ids.get('kube-real/victim/app') ?? '';
  for (const [i, g] of got.filter((x) => x.status === 500).entries()) {
    const expected = real[i + 1] as RealAnswer;
    const parts = runtimeTextParts(expected.body);
    const time = /time="([^"]+)"/.exec(g.text)?.[1] ?? '';
    checkLocalTime(t, time, before, after);
    t.equal(parts.target, 'kube-real/victim/app');
    t.equal(g.text, expected.body.replaceAll(parts.containerId, id).replaceAll(parts.time, time), "CRI-O's text around runc's, byte for byte");
    t.equal(g.headers['content-type'], 'text/plain; charset=utf-8');
  }
});

t.test("a live TCP connection without tcp-established: CRI-O's 500 with runc's quote of the CRIU log", async (t) => {
  const real = readCurlAnswer('17-tcp-established-500.txt');
  const parts = runtimeTextParts(real.body);
  t.equal(parts.target, 'payments/tcp-holder/app');
  sim.faults.tcpEstablishedMissing = true;
  const before = Date.now();
  const got = await post(`${parts.target}?timeout=30`);
  const after = Date.now();
  const time = /time="([^"]+)"/.exec(got.text)?.[1] ?? '';
  checkLocalTime(t, time, before, after);
  const expected = real.body.replaceAll(parts.containerId, ids.get(parts.target) ?? '').replaceAll(parts.time, time);
  t.equal(got.status, 500);
  t.equal(got.text, expected, 'byte for byte, the whole CRIU log included');
  // The recording's body is 5 bytes shorter than its Content-Length (3701 of 3706): lost when it
  // was recorded. The sim's Content-Length is its body's length.
  t.same(meaningful(got.headers), { 'content-type': real.headers['content-type'], 'content-length': String(Buffer.byteLength(got.text)) });
  t.equal(sim.receipts.at(-1)?.status, 500);
});

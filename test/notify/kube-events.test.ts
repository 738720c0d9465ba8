// kubernetes-event notifications: the agent writes an events.k8s.io/v1 Event on the Capture
// resource, in amber's namespace (never the target's), through the real client against the
// simulated API server — retried on 429, and never in a capture's way. The agent also posts a
// signed webhook to a receiver on loopback: the sim's miner reaches it with its YARA indicator.
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startAgent } from '../../src/cli/roles/agent-command.js';
import { startServe } from '../../src/cli/roles/serve-command.js';
import type { Serving } from '../../src/cli/roles/serving.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { isAmberError } from '../../src/core/amber-error.js';
import { planCapture } from '../../src/core/decision.js';
import { kubeApi, loadKubeConfig } from '../../src/kube/kube-api.js';
import { placeTarget } from '../../src/kube/place-target.js';
import { KubeQueue } from '../../src/queue/kube/kube-queue.js';
import { LogSink } from '../helpers/log-sink.js';
import { startSimCluster, type ApiFault, type SimCluster } from '../sim/sim-cluster.js';

type Obj = Record<string, any>;
type T = { teardown(fn: () => unknown): void };
const NS = 'amber-system';

let sim: SimCluster;
let root: string;
/** What the webhook receiver was sent: each body with its headers. */
const received: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
let receiver: Server;
const SECRET = 'a-shared-secret-of-the-soc';
t.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'amber-kube-events-'));
  sim = await startSimCluster({ nodes: ['node-a'], root: join(root, 'sim') });
  await writeFile(join(root, 'webhook-secret'), SECRET);
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
});
t.teardown(async () => {
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
  await sim.close();
  await rm(root, { recursive: true, force: true });
});
t.afterEach(() => {
  sim.faults.apiFaults.length = 0;
  sim.faults.checkpointError = undefined;
});

// the repository's sample YARA rules (yara/): the sim's miner is one of their matches
const YARA_DIR = fileURLToPath(new URL('../../yara', import.meta.url));
const configYaml = () => `notifications:
  - name: events
    type: kubernetes-event
    on: [sealed, failed]
  - name: soc
    type: webhook
    url: http://127.0.0.1:${(receiver.address() as AddressInfo).port}/amber
    secretFile: ${JSON.stringify(join(root, 'webhook-secret'))}
    on: [sealed]
capture:
  maxAttempts: 1
analysis:
  yara: [${JSON.stringify(YARA_DIR)}]
`;

/** `amber agent` in this process, with a kubernetes-event and a webhook notification in its --config file. */
async function agent(t: T, name: string, report = true): Promise<Serving> {
  const dir = join(root, name);
  await rm(dir, { recursive: true, force: true });
  const config = join(root, `${name}.yaml`);
  await writeFile(config, configYaml());
  const serving = await startAgent(
    [
      ...['--config', config, '--kubeconfig', sim.kubeconfigPath, '--namespace', NS, '--cluster', 'sim', '--listen', '127.0.0.1:0', '--log-level', 'fatal'],
      ...['--node', 'node-a', '--data-dir', join(dir, 'data'), '--store', `file://${join(dir, 'evidence')}`, '--kubelet-ca', sim.caFile],
      ...['--checkpoint-dir', sim.checkpointDir('node-a'), '--min-free-bytes', '0', '--report', String(report)],
    ],
    { out: () => undefined, err: () => undefined, env: { POD_NAME: `amber-agent-${name}` } },
  );
  if (!serving) throw new Error('no agent');
  t.teardown(() => serving.stop());
  return serving;
}

/** A Capture for a new pod in `shop` on node-a, as the responder creates it; resolves with the resource once Sealed or Failed. */
async function captureOnNodeA(t: T, pod: string): Promise<Obj> {
  const served = sim.addPod({ namespace: 'shop', name: pod, node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] }) as Obj;
  const kc = loadKubeConfig(sim.kubeconfigPath);
  const api = kubeApi(kc);
  const responder = KubeQueue.forResponder({ kc, namespace: NS, log: createLogger('fatal', new LogSink()), place: (target) => placeTarget(api, target) });
  t.teardown(() => responder.close());
  const containerID = String(served.status.containerStatuses[0].containerID)
    .replace(/^[a-z-]+:\/\//, '')
    .slice(0, 12);
  const { capture } = await responder.enqueue(
    planCapture({
      policy: 'interactive-shell',
      signal: {
        source: 'falco',
        rule: 'Terminal shell in container',
        priority: 'Notice',
        time: new Date().toISOString(),
        tags: [],
        fields: {},
        target: { namespace: 'shop', pod, container: 'app', containerID },
        raw: { rule: 'Terminal shell in container', pod },
      },
      containers: 'target',
      cooldownMs: 60_000,
      timeoutSeconds: 30,
      include: [],
      evidence: { retentionDays: 0, lock: 'none' },
    }),
  );
  for (let i = 0; i < 6000; i++) {
    const r = sim.captures(NS).find((c) => c.metadata.labels?.['forensics.amber.dev/id'] === capture.id);
    if (r?.status?.phase === 'Sealed' || r?.status?.phase === 'Failed') return r;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`capture ${capture.id} did not settle`);
}

/** The Events on a Capture resource, waiting up to `ms` for the first. */
async function eventsOn(resource: Obj, ms = 5000): Promise<Obj[]> {
  const on = () => sim.events().filter((e) => e.regarding?.name === resource.metadata.name);
  for (let i = 0; i < ms / 10 && on().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  return on();
}

t.test("an agent capture that seals: one Normal CaptureSealed Event on the Capture, in amber's namespace, with the indicators and the bundle", async (t) => {
  const serving = await agent(t, 'sealed');
  const capture = await captureOnNodeA(t, 'web-sealed');
  t.equal(capture.status.phase, 'Sealed', String(capture.status.message ?? 'sealed'));
  const [event = {}, ...more] = await eventsOn(capture);
  t.equal(more.length, 0, 'one Event');
  t.match(event, {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { namespace: NS, labels: { 'forensics.amber.dev/id': capture.metadata.labels['forensics.amber.dev/id'] } },
    type: 'Normal',
    reason: 'CaptureSealed',
    action: 'Seal',
    reportingController: 'forensics.amber.dev/amber',
    reportingInstance: 'amber-agent-sealed',
    regarding: { apiVersion: 'forensics.amber.dev/v1alpha1', kind: 'Capture', namespace: NS, name: capture.metadata.name, uid: capture.metadata.uid },
  });
  t.match(event.eventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'a MicroTime');
  // the notification waits for the triage report: the Capture holds its indicators by now
  const reported = sim.captures(NS).find((c) => c.metadata.name === capture.metadata.name) ?? {};
  t.equal(reported.status?.report?.state, 'Written', 'the report was written');
  const indicators: string[] = reported.status?.report?.indicators ?? [];
  t.ok(indicators.length > 0, `the sim's miner and reverse shell are found (${indicators.join(', ')})`);
  t.ok(indicators.includes('yara-match'), 'the YARA rules found the miner, and the notification says so');
  for (const id of indicators) t.match(event.note, id, `the note names ${id}`);
  t.match(event.note, 'shop/web-sealed container app');
  t.match(event.note, 'policy interactive-shell');
  t.match(event.note, capture.status.bundle.uri);
  t.same(sim.events('shop'), [], "nothing in the target's namespace");
  const metrics = await (await fetch(`${serving.server.url}/metrics`)).text();
  t.match(metrics, /amber_notifications_sent_total\{name="events",type="kubernetes-event"\} 1/, 'counted as sent');

  // the same capture at the webhook receiver: the report's indicators, YARA's among them, signed
  const id = capture.metadata.labels['forensics.amber.dev/id'];
  const ofThis = () => received.filter((r) => JSON.parse(r.body.toString()).capture?.id === id);
  for (let i = 0; i < 500 && ofThis().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const [hook, ...again] = ofThis();
  t.equal(again.length, 0, 'one webhook');
  const body = JSON.parse(hook?.body.toString() ?? '{}');
  t.match(body, {
    schema: 'forensics.amber.dev/notification/v1',
    event: 'capture.sealed',
    capture: { id, phase: 'Sealed' },
    bundle: { uri: capture.status.bundle.uri },
  });
  t.same(body.report?.indicators, indicators, 'the indicators the Capture holds, yara-match among them');
  const [, ts, mac] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(hook?.headers['x-amber-signature'])) ?? [];
  t.equal(
    mac,
    createHmac('sha256', SECRET)
      .update(`${ts}.`)
      .update(hook?.body ?? '')
      .digest('hex'),
    'the HMAC checks out with the shared secret',
  );
});

t.test("a failed capture: a Warning CaptureFailed Event with the reason, and nothing in the target's namespace", async (t) => {
  await agent(t, 'failed');
  sim.faults.checkpointError = 'criu failed: type NOTIFY errno 0';
  const capture = await captureOnNodeA(t, 'web-failed');
  t.equal(capture.status.phase, 'Failed');
  const [event = {}, ...more] = await eventsOn(capture);
  t.equal(more.length, 0, 'one Event');
  t.match(event, {
    type: 'Warning',
    reason: 'CaptureFailed',
    action: 'Capture',
    metadata: { namespace: NS },
    regarding: { kind: 'Capture', name: capture.metadata.name },
  });
  t.match(event.note, `Failed (${String(capture.status.reason)})`);
  t.match(event.note, 'criu failed');
  t.same(sim.events('shop'), [], "nothing in the target's namespace");
});

t.test('the events API answers 429 with Retry-After once: the Event is created on the retry, once', async (t) => {
  await agent(t, 'retry', false);
  const fault: ApiFault = { answer: 'tooManyRequests', verb: 'create', path: '/apis/events.k8s.io/', times: 1, retryAfterSeconds: 1 };
  sim.faults.apiFaults.push(fault);
  const capture = await captureOnNodeA(t, 'web-retry');
  t.equal(capture.status.phase, 'Sealed');
  const events = await eventsOn(capture, 15_000);
  t.equal(fault.answeredAt?.length, 1, 'the first attempt got the 429');
  t.equal(events.length, 1, 'the retry created the Event, once');
  t.match(events[0], { type: 'Normal', reason: 'CaptureSealed' });
});

t.test('an events API that is down (connections cut, then 500s) never slows or fails a capture', async (t) => {
  await agent(t, 'down', false);
  const faults: ApiFault[] = [
    { answer: 'reset', verb: 'create', path: '/apis/events.k8s.io/', times: 2 },
    { answer: 'internalError', verb: 'create', path: '/apis/events.k8s.io/', times: Infinity },
  ];
  sim.faults.apiFaults.push(...faults);
  const started = Date.now();
  const capture = await captureOnNodeA(t, 'web-down');
  t.equal(capture.status.phase, 'Sealed', 'sealed whatever the events API does');
  t.ok(Date.now() - started < 20_000, `in ${Date.now() - started} ms`);
  await new Promise((r) => setTimeout(r, 300));
  t.ok((faults[0]?.answeredAt?.length ?? 0) >= 1, 'the Event was attempted');
  t.same(
    sim.events().filter((e) => e.regarding?.name === capture.metadata.name),
    [],
    'and none was created',
  );
});

t.test('amber serve refuses a kubernetes-event notification at start: its captures are not Capture resources', async (t) => {
  const config = join(root, 'serve.yaml');
  await writeFile(config, configYaml());
  const dir = join(root, 'serve');
  const e = await startServe(
    ['--config', config, '--listen', '127.0.0.1:0', '--log-level', 'fatal', '--data-dir', dir, '--store', `file://${join(dir, 'evidence')}`],
    { out: () => undefined, err: () => undefined, env: {} },
  ).then(
    (s) => {
      void s?.stop();
      return undefined;
    },
    (err: unknown) => err,
  );
  t.ok(isAmberError(e, 'CONFIG_INVALID'), 'CONFIG_INVALID');
  t.match(isAmberError(e) ? e.details : {}, { setting: 'notifications[0]', problem: /kubernetes-event.*Capture resources/ });
});

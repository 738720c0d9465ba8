/**
 * The restore button's pipeline (src/cli/roles/ui-restorer.ts) against real parts: sealed bundles
 * from the capture pipeline, Debian's registry, and the simulated cluster's API for the sandbox.
 * The record it signs verifies with `amber verify`, and it refuses what `amber restore` refuses.
 */
import { appendFile, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../../src/cli/create-logger.js';
import { uiRestorer } from '../../src/cli/roles/ui-restorer.js';
import { verifyCommand } from '../../src/cli/verify-command.js';
import { DEFAULT_SETTINGS, type Settings } from '../../src/config/settings.js';
import { isAmberError } from '../../src/core/amber-error.js';
import { loadOrCreateSigningKey } from '../../src/evidence/signing-key.js';
import type { Capture } from '../../src/core/capture.js';
import type { EvidenceRestorer, RestoreDone } from '../../src/http/evidence-restorer.js';
import { LogSink } from '../helpers/log-sink.js';
import { sealedCaptures, type SealedCaptures } from '../helpers/sealed-capture.js';
import { startRegistry, type TestRegistry } from '../helpers/start-registry.js';
import { startSimCluster, type SimCluster } from '../sim/sim-cluster.js';

t.setTimeout(180_000);

interface Rig {
  sealed: SealedCaptures;
  sim: SimCluster;
  registry: TestRegistry;
  restorer: EvidenceRestorer;
  /** The restorer's restore, done in this process (serve): its answer's `done`. */
  restore: (capture: Capture, by: { user: string }, onProgress: (line: string) => void) => Promise<RestoreDone>;
  logs: LogSink;
}

async function rig(t: { teardown(fn: () => unknown): void }, overrides?: Partial<NonNullable<Settings['ui']['restore']>>): Promise<Rig> {
  const sealed = await sealedCaptures();
  t.teardown(() => sealed.close());
  const sim = await startSimCluster({ nodes: ['node-a'] });
  t.teardown(() => sim.close());
  const registry = await startRegistry();
  t.teardown(() => registry.close());
  const logs = new LogSink();
  const settings: Settings = {
    ...DEFAULT_SETTINGS,
    kubeconfig: sim.kubeconfigPath,
    ui: {
      ...DEFAULT_SETTINGS.ui,
      restore: { image: `${registry.address}/forensics/restores`, namespace: 'amber-sandbox', insecureRegistry: true, ...overrides },
    },
  };
  const restorer = uiRestorer({
    settings,
    queue: sealed.queue,
    signingKey: (await loadOrCreateSigningKey(join(sealed.root, 'signing'))).key,
    jwks: sealed.jwks,
    log: createLogger('info', logs),
    env: {},
  });
  if (!restorer) throw new Error('ui.restore is set: there must be a restorer');
  const restore = async (capture: Capture, by: { user: string }, onProgress: (line: string) => void): Promise<RestoreDone> => {
    const answer = await restorer.restore(capture, by, onProgress);
    if (!('done' in answer)) throw new Error(`serve restores itself, but filed ${JSON.stringify(answer)}`);
    return answer.done;
  };
  return { sealed, sim, registry, restorer, restore, logs };
}

function quietIo() {
  const lines: string[] = [];
  return { io: { out: (s: string) => void lines.push(s), err: (s: string) => void lines.push(s), env: {} }, lines };
}

t.test('no ui.restore (or no page): no restore button', async (t) => {
  const base = {
    settings: DEFAULT_SETTINGS,
    queue: undefined as never,
    signingKey: undefined as never,
    jwks: { keys: [] },
    log: createLogger('info', new LogSink()),
    env: {},
  };
  t.equal(uiRestorer(base), undefined);
  const restore = { image: 'registry.example/r', namespace: 'amber-sandbox' };
  t.equal(uiRestorer({ ...base, settings: { ...DEFAULT_SETTINGS, ui: { ...DEFAULT_SETTINGS.ui, enabled: false, restore } } }), undefined);
});

t.test('a restore from the page: a fenced sandbox, a record signed by the server naming the user, listed on the capture', async (t) => {
  const r = await rig(t);
  const capture = await r.sealed.seal();
  const progress: string[] = [];
  const done = await r.restore(capture, { user: 'alice' }, (line) => progress.push(line));
  t.equal(done.number, 1);
  t.match(done.image, new RegExp(`^${r.registry.address}/forensics/restores:restore-${capture.id}@sha256:[0-9a-f]{64}$`));
  t.ok(
    progress.some((l) => l.startsWith(`verified ${r.sealed.dirOf(capture)}`)),
    'the progress says it verified first',
  );

  const pods = r.sim.createdObjects('Pod');
  t.same(
    pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
    [`${done.sandbox.namespace}/${done.sandbox.pod}`],
  );
  t.same(
    r.sim.createdObjects('NetworkPolicy').map((p) => p.metadata.name),
    [done.sandbox.networkPolicy],
  );

  const record = JSON.parse(await readFile(join(r.sealed.dirOf(capture), 'restore-1.json'), 'utf8')) as Record<string, any>;
  t.same(record.restoredBy, { user: 'alice', host: hostname() });
  t.equal(record.sandbox.pod, done.sandbox.pod);
  t.equal(record.custody.entries[0].details.via, 'the evidence browser');
  t.equal(record.custody.entries[0].actor.component, 'amber serve (evidence browser)');

  const verify = quietIo();
  t.equal(await verifyCommand([r.sealed.dirOf(capture), '--jwks', r.sealed.jwksFile], verify.io), 0, verify.lines.join('\n'));

  const listed = (await r.sealed.queue.get(capture.id))?.status.restores;
  t.same(listed, [
    {
      number: 1,
      at: record.at,
      by: `alice@${hostname()}`,
      record: done.record,
      image: done.image,
      sandbox: { namespace: 'amber-sandbox', pod: done.sandbox.pod },
    },
  ]);
  const again = await r.restore(capture, { user: 'bob' }, () => undefined);
  t.equal(again.number, 2, 'a second restore is the next record, in its own sandbox');
  t.not(again.sandbox.pod, done.sandbox.pod);
  t.equal((await r.sealed.queue.get(capture.id))?.status.restores?.length, 2);
});

t.test('one restore at a time: a second click while one runs is EVIDENCE_BUSY and builds nothing', async (t) => {
  const r = await rig(t);
  const capture = await r.sealed.seal();
  const first = r.restore(capture, { user: 'alice' }, () => undefined);
  await t.rejects(
    r.restore(capture, { user: 'bob' }, () => undefined),
    { code: 'EVIDENCE_BUSY' },
  );
  t.equal((await first).number, 1);
  t.equal(r.sim.createdObjects('Pod').length, 1);
});

t.test('refused like amber restore: a tampered bundle, a capture not sealed, a bundle of another capture; nothing is built', async (t) => {
  const r = await rig(t);
  const capture = await r.sealed.seal();
  await appendFile(join(r.sealed.dirOf(capture), 'signals.json'), ' ');
  const tampered = await r.restore(capture, { user: 'alice' }, () => undefined).catch((e: unknown) => e);
  t.ok(isAmberError(tampered, 'RESTORE_REFUSED'), String(tampered));
  t.same((tampered as { details: { failed: string[] } }).details.failed, ['signals.json'], 'the failing artifact is named');

  const pending = await r.sealed.pending();
  await t.rejects(
    r.restore(pending, { user: 'alice' }, () => undefined),
    { code: 'EVIDENCE_UNAVAILABLE' },
  );

  const other = await r.sealed.seal();
  await t.rejects(
    r.restore({ ...other, id: capture.id }, { user: 'alice' }, () => undefined),
    {
      code: 'RESTORE_REFUSED',
      message: /is capture .*'s, not /,
    },
  );
  t.equal(r.sim.createdObjects('Pod').length, 0, 'no sandbox');
  t.equal(r.sim.createdObjects('NetworkPolicy').length, 0);
});

t.test('a registry that refuses the push fails the restore with its code, and no record claims a sandbox', async (t) => {
  const r = await rig(t, { image: '127.0.0.1:1/forensics/restores' });
  const capture = await r.sealed.seal();
  const failed = await r.restore(capture, { user: 'alice' }, () => undefined).catch((e: unknown) => e);
  t.ok(isAmberError(failed, 'REGISTRY_UNAVAILABLE'), String(failed));
  t.equal(r.sim.createdObjects('Pod').length, 0);
  await t.rejects(readFile(join(r.sealed.dirOf(capture), 'restore-1.json')), { code: 'ENOENT' });
  t.equal((await r.sealed.queue.get(capture.id))?.status.restores, undefined);
});

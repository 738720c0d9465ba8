/**
 * The triage report of a capture with indicator lists: a real archive (Podman's revshell) taken
 * through runCapture; report.json carries the list indicators and the versions of the lists it
 * matched, and a list edited between two captures is the new version in the second report.
 */
import { copyFile, mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import t from 'tap';
import { IndicatorLists } from '../../src/analysis/lists/indicator-lists.js';
import type { Indicator } from '../../src/analysis/triage-indicators.js';
import { DEFAULT_CAPTURE_SETTINGS, type CaptureDeps } from '../../src/capture/capture-deps.js';
import type { TriageReport } from '../../src/capture/produce-report.js';
import { runCapture } from '../../src/capture/run-capture.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { planCapture } from '../../src/core/decision.js';
import { loadOrCreateSigningKey } from '../../src/evidence/signing-key.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { FakeKube, FakeKubelet } from '../helpers/fake-kube.js';
import { LogSink } from '../helpers/log-sink.js';
import { groundTruth, REAL_ARCHIVES, realPath, type RealArchive } from '../helpers/real-checkpoints.js';

const revshell = REAL_ARCHIVES.find((a) => a.folder === 'revshell') as RealArchive;
/** ground truth's connection of the shell to its handler: `127.0.0.1:4444` */
const handler = (groundTruth(revshell)['sockets_ss_tanuwp'] as string[])
  .slice(1)
  .map((l) => l.trim().split(/\s+/)[5] as string)
  .find((peer) => peer.endsWith(':4444')) as string;

t.test('report.json holds the list indicators and the list versions; an edited list is used by the next capture', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-report-lists-'));
  const queue = await FileQueue.open({ dir: join(dir, 'journal') });
  t.teardown(async () => {
    await queue.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const { key } = await loadOrCreateSigningKey(join(dir, 'signing'));
  await mkdir(join(dir, 'checkpoints'));
  const listPath = join(dir, 'c2.txt');
  await writeFile(listPath, `# the handler\n${handler} # from the incident ticket\n`);
  const logs = new LogSink();
  const log = createLogger('info', logs);
  const lists = await IndicatorLists.load([{ name: 'c2', kind: 'address', path: listPath }], { log });
  const store = new MemoryStore();
  const deps: CaptureDeps = {
    queue,
    api: new FakeKube(),
    kubelet: new FakeKubelet(join(dir, 'checkpoints'), (file) => copyFile(realPath(revshell), file)),
    store,
    signingKey: key,
    log,
    actor: { component: 'agent', node: 'node-a' },
    version: 'test',
    settings: { ...DEFAULT_CAPTURE_SETTINGS, checkpointDir: join(dir, 'checkpoints'), cluster: 'test', minFreeBytes: 0, retryBaseMs: 1 },
    lists,
  };
  const capture = async (policy: string) => {
    const { capture: queued } = await queue.enqueue(
      planCapture({
        policy, // another policy: not a duplicate of the first capture
        signal: {
          source: 'falco',
          rule: 'Terminal shell in container',
          priority: 'Notice',
          time: '2026-11-28T12:00:00Z',
          tags: [],
          fields: {},
          target: { namespace: 'shop', pod: 'web-1', container: 'app', containerID: 'aaaaaaaaaaaa' },
          raw: {},
        },
        containers: 'target',
        cooldownMs: 60_000,
        timeoutSeconds: 30,
        include: [],
        evidence: { retentionDays: 30, lock: 'none' },
      }),
    );
    const before = new Set(await store.list(''));
    const done = await runCapture(deps, queued.id);
    const key = (await store.list('')).find((k) => !before.has(k) && k.endsWith('/report.json')) as string;
    return { done, report: JSON.parse(await text(await store.get(key))) as TriageReport };
  };

  const first = await capture('interactive-shell');
  t.equal(first.done.status.report?.state, 'Written');
  t.ok(first.done.status.report?.indicators?.includes('listed-address'), "the capture's status lists the indicator id");
  const listed = (first.report.checkpoints[0]?.indicators ?? []).filter((i: Indicator) => i.id === 'listed-address');
  t.ok(listed.length > 0);
  t.ok(
    listed.every((i) => i.evidence?.['list'] === 'c2' && i.evidence['entry'] === handler && i.evidence['note'] === 'from the incident ticket'),
    'each names the list, the entry as written and its note',
  );
  t.match(first.report.lists, [{ name: 'c2', kind: 'address', sha256: /^[0-9a-f]{64}$/, entries: 1 }], 'the report says which version it matched');
  const produced = first.done.status.custody?.find((e) => e.action === 'report.produced');
  t.same(produced?.details['lists'], [{ name: 'c2', sha256: first.report.lists?.[0]?.sha256 }], 'and so does its custody entry');

  // the analyst removes the entry; the running agent's next report uses the new version
  const before = await stat(listPath);
  await writeFile(listPath, '# nothing listed for now\n');
  await utimes(listPath, new Date(before.mtimeMs + 5000), new Date(before.mtimeMs + 5000));
  const second = await capture('reverse-shell');
  t.notOk((second.report.checkpoints[0]?.indicators ?? []).some((i: Indicator) => i.id === 'listed-address'));
  t.match(second.report.lists, [{ name: 'c2', entries: 0 }]);
  t.not(second.report.lists?.[0]?.sha256, first.report.lists?.[0]?.sha256);
  t.equal(logs.find('indicator list reloaded').length, 1);
});

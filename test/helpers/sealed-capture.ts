import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JSONWebKeySet } from 'jose';
import type { YaraRules } from '../../src/analysis/yara/yara-rules.js';
import { DEFAULT_CAPTURE_SETTINGS, type CaptureDeps } from '../../src/capture/capture-deps.js';
import { runCapture } from '../../src/capture/run-capture.js';
import { createLogger } from '../../src/cli/create-logger.js';
import type { Capture } from '../../src/core/capture.js';
import { planCapture } from '../../src/core/decision.js';
import { loadOrCreateSigningKey } from '../../src/evidence/signing-key.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { FileStore } from '../../src/storage/file-store.js';
import { writeCheckpointArchive } from '../sim/checkpoint-archive.js';
import { FakeKube, FakeKubelet } from './fake-kube.js';
import { LogSink } from './log-sink.js';

/** The secret-looking environment value every sealed capture's pid 1 holds. */
export const SECRET_ENV = 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

export interface SealedCaptures {
  readonly root: string;
  readonly queue: FileQueue;
  readonly store: FileStore;
  readonly jwks: JSONWebKeySet;
  readonly jwksFile: string;
  /** Runs a real capture of shop/web-1 (a simulated CRIU checkpoint) to Sealed, report.json included. */
  seal(): Promise<Capture>;
  /** The bundle directory of a sealed capture (its file:// URI as a path). */
  dirOf(capture: Capture): string;
  /** Queues a capture and leaves it Pending. */
  pending(pod?: string): Promise<Capture>;
  close(): Promise<void>;
}

/**
 * Real sealed bundles without a cluster: the capture pipeline (runCapture) with a kubelet stand-in
 * that writes a simulated checkpoint archive (test/sim), into a FileStore, the Capture in a
 * FileQueue — the same bundle, custody chain, signature and triage report the worker makes.
 */
export async function sealedCaptures(opts: { /** the YARA rules the report scans with */ yara?: YaraRules } = {}): Promise<SealedCaptures> {
  const root = await mkdtemp(join(tmpdir(), 'amber-sealed-'));
  const queue = await FileQueue.open({ dir: join(root, 'journal') });
  const signingDir = join(root, 'signing');
  const { key } = await loadOrCreateSigningKey(signingDir);
  const store = new FileStore(join(root, 'evidence'));
  await mkdir(join(root, 'checkpoints'));
  const T0 = Date.now();
  const write = async (file: string, container: string): Promise<void> => {
    await writeCheckpointArchive(
      file,
      {
        layout: 'crio',
        namespace: 'shop',
        pod: 'web-1',
        podUid: 'uid-1',
        container,
        containerId: 'ab'.repeat(32),
        sandboxId: 'cd'.repeat(32),
        image: 'ghcr.io/acme/app:1.0',
        imageRef: `ghcr.io/acme/app@sha256:${'ef'.repeat(32)}`,
        imageId: '12'.repeat(32),
        podIP: '10.244.1.9',
        hostPid: 4242,
        createdAt: T0 - 60_000,
        startedAt: T0 - 59_000,
        checkpointedAt: T0,
        restartCount: 0,
        argv: ['/bin/sh', '/app/entrypoint.sh'],
        env: ['MODE=prod', SECRET_ENV],
        logLines: [],
      },
      64 * 1024,
    );
  };
  const deps: CaptureDeps = {
    queue,
    api: new FakeKube(),
    kubelet: new FakeKubelet(join(root, 'checkpoints'), write),
    store,
    signingKey: key,
    log: createLogger('warn', new LogSink()),
    actor: { component: 'agent', node: 'node-a' },
    version: 'test',
    settings: { ...DEFAULT_CAPTURE_SETTINGS, checkpointDir: join(root, 'checkpoints'), cluster: 'test', minFreeBytes: 0, retryBaseMs: 1 },
    ...(opts.yara && { yara: opts.yara }),
  };
  let n = 0;
  const request = (pod: string) =>
    planCapture({
      policy: 'interactive-shell',
      signal: {
        source: 'falco',
        rule: 'Terminal shell in container',
        priority: 'Notice',
        time: new Date(T0 + n++).toISOString(),
        tags: [],
        fields: {},
        target: { namespace: 'shop', pod, container: 'app', containerID: 'aaaaaaaaaaaa' },
        raw: { n },
      },
      containers: 'target',
      cooldownMs: 0,
      timeoutSeconds: 30,
      include: ['podSpec'],
      evidence: { retentionDays: 1, lock: 'none' },
    });
  return {
    root,
    queue,
    store,
    jwks: { keys: [key.publicJwk] } as JSONWebKeySet,
    jwksFile: join(signingDir, 'jwks.json'),
    async seal() {
      const { capture } = await queue.enqueue(request('web-1'));
      const done = await runCapture(deps, capture.id);
      if (done.status.phase !== 'Sealed' || done.status.report?.state !== 'Written') {
        throw new Error(`the test capture ended ${done.status.phase}, report ${JSON.stringify(done.status.report)}`);
      }
      return done;
    },
    dirOf: (capture) => fileURLToPath(capture.status.bundle?.uri ?? 'file:///nowhere'),
    async pending(pod = 'web-2') {
      return (await queue.enqueue(request(pod))).capture;
    },
    async close() {
      await queue.close().catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}

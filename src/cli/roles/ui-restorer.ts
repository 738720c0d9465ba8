import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Settings } from '../../config/settings.js';
import { AmberError } from '../../core/amber-error.js';
import type { Capture } from '../../core/capture.js';
import type { PublicKeySet, SigningKey } from '../../evidence/signing-key.js';
import type { EvidenceRestorer, RestoreDone } from '../../http/evidence-restorer.js';
import type { CaptureApi } from '../../kube/capture-api.js';
import type { CaptureQueue } from '../../queue/capture-queue.js';
import { setRestoreRequest, type CaptureRestore } from '../../queue/kube/add-capture-restore.js';
import { openBundleTarget } from '../bundle-target.js';
import type { Io } from '../cli-support.js';
import type { RestoreRequest } from '../restore/restore-flags.js';
import { restoreSealed } from '../restore/restore-sealed.js';

/** Restores a sealed capture into a sandbox, for `by`; one at a time (EVIDENCE_BUSY otherwise). */
export type SandboxRestore = (capture: Capture, by: { user: string }, onProgress: (line: string) => void) => Promise<RestoreDone>;

type RestoreSettings = NonNullable<Settings['ui']['restore']>;

/**
 * The sealed path of `amber restore` as the process that holds the signing key and writes the
 * store runs it for the evidence browser (`serve` itself, or an agent for a responder's request):
 * verify, push to `ui.restore.image`, a fenced sandbox in `ui.restore.namespace`, and the record
 * signed with this process's key, naming `by` as who restored, its custody saying it came from the
 * evidence browser. `list` puts the restore on the capture (best-effort: the record is the proof).
 * One restore runs at a time: a push streams the whole archive.
 */
export function sandboxRestore(p: {
  settings: Settings;
  conf: RestoreSettings;
  signingKey: SigningKey;
  jwks: PublicKeySet;
  log: Logger;
  env: Io['env'];
  component: string;
  list: (id: string, restore: CaptureRestore) => Promise<void>;
}): SandboxRestore {
  const { conf } = p;
  const password = p.env['AMBER_REGISTRY_PASSWORD'];
  const request: RestoreRequest = {
    image: {
      ref: conf.image,
      user: conf.registryUser,
      passwordFile: conf.registryPasswordFile,
      password: password === '' ? undefined : password,
      caFile: conf.registryCaFile,
      insecure: conf.insecureRegistry === true,
    },
    sandbox: {
      namespace: conf.namespace,
      kubeconfig: p.settings.kubeconfig,
      node: conf.node,
      runtimeClass: conf.runtimeClass,
      tolerations: conf.tolerations ?? [],
      nodeSelector: conf.nodeSelector ?? [],
      // the capture's restore list is written by `list`, through whichever queue holds the capture
      captureNamespace: undefined,
      allowSameNamespace: false,
    },
    podman: false,
    dryRun: false,
  };
  let running: string | undefined;
  return async (capture, by, onProgress) => {
    const uri = capture.status.bundle?.uri;
    if (capture.status.phase !== 'Sealed' || uri === undefined) throw new AmberError('EVIDENCE_UNAVAILABLE', { id: capture.id, phase: capture.status.phase });
    if (running !== undefined) throw new AmberError('EVIDENCE_BUSY', { restoring: running });
    running = capture.id;
    try {
      const io: Io = { out: onProgress, err: onProgress, env: p.env };
      const result = await restoreSealed(
        {
          bundle: await openBundleTarget(uri, p.settings.s3),
          request,
          captureId: capture.id,
          jwks: p.jwks,
          // an encrypted archive needs an identity no server holds: restore-source refuses such a restore
          identities: [],
          signingKey: async () => p.signingKey,
          by,
          via: 'the evidence browser',
          component: p.component,
        },
        io,
      );
      if ('refused' in result) {
        throw new AmberError('RESTORE_REFUSED', {
          id: capture.id,
          problem: `the bundle does not verify (${result.refused.failed.length} of ${result.refused.total} checks failed): nothing was built`,
          failed: result.refused.failed.map((c) => c.artifact ?? c.check),
        });
      }
      const made = result.restored;
      const sandbox = made.outputs.facts?.sandbox;
      const image = made.outputs.steps.find((s) => s.action === 'restore.image-written')?.details['reference'];
      if (made.record === undefined || sandbox === undefined || typeof image !== 'string') {
        throw new Error('the restore ended without a sandbox and a record'); // restoreOutputs makes both for this request
      }
      const { record } = made.record;
      await p
        .list(capture.id, {
          number: record.number,
          at: record.at,
          by: `${record.restoredBy.user}@${record.restoredBy.host}`,
          record: made.record.uri,
          image,
          sandbox: { namespace: sandbox.namespace, pod: sandbox.pod, ...(sandbox.node !== undefined ? { node: sandbox.node } : {}) },
        })
        .catch((err: unknown) => {
          // the capture's list is a convenience, best-effort: the signed record beside the bundle is the proof
          p.log.warn({ err, capture: capture.id, number: record.number }, 'the capture does not list its restore');
        });
      return {
        number: record.number,
        record: made.record.uri,
        image,
        sandbox: { namespace: sandbox.namespace, pod: sandbox.pod, networkPolicy: sandbox.networkPolicy },
        signedBy: made.record.kid,
      };
    } finally {
      running = undefined;
    }
  };
}

function warnOn(log: Logger, conf: RestoreSettings): void {
  log.warn(
    { image: conf.image, namespace: conf.namespace },
    'the evidence browser can restore sealed captures into sandbox pods (ui.restore): anyone signed in can start one',
  );
}

/**
 * The restore button of `serve` (`ui.restore`): restores in this process, which holds the signing
 * key and writes the store; the capture's restore list is in its own journal. Undefined when
 * `ui.restore` is not set or the page is off.
 */
export function uiRestorer(p: {
  settings: Settings;
  queue: CaptureQueue;
  signingKey: SigningKey;
  jwks: PublicKeySet;
  log: Logger;
  env: Io['env'];
}): EvidenceRestorer | undefined {
  const conf = p.settings.ui.restore;
  if (conf === undefined || !p.settings.ui.enabled) return undefined;
  warnOn(p.log, conf);
  const restore = sandboxRestore({ ...p, conf, component: 'amber serve (evidence browser)', list: (id, r) => listRestore(p.queue, id, r) });
  return {
    target: { image: conf.image, namespace: conf.namespace },
    restore: async (capture, by, onProgress) => ({ done: await restore(capture, by, onProgress) }),
  };
}

/**
 * The restore button of a responder (`ui.restore`): it holds no signing key and writes no
 * evidence, so it files the request in the Capture's `status.restoreRequests`, and the agent of
 * the capture's node runs it (restore-requests.ts) and answers there.
 */
export function requestingRestorer(p: { settings: Settings; api: CaptureApi; log: Logger; now?: () => Date }): EvidenceRestorer | undefined {
  const conf = p.settings.ui.restore;
  if (conf === undefined || !p.settings.ui.enabled) return undefined;
  warnOn(p.log, conf);
  const now = p.now ?? (() => new Date());
  return {
    target: { image: conf.image, namespace: conf.namespace },
    async restore(capture, by) {
      if (capture.status.phase !== 'Sealed' || capture.status.bundle === undefined) {
        throw new AmberError('EVIDENCE_UNAVAILABLE', { id: capture.id, phase: capture.status.phase });
      }
      const open = (capture.status.restoreRequests ?? []).find((r) => r.state === 'Requested' || r.state === 'Running');
      if (open !== undefined) throw new AmberError('EVIDENCE_BUSY', { restoring: capture.id, request: open.id });
      const id = randomUUID();
      await setRestoreRequest(p.api, capture.id, { id, at: now().toISOString(), by: by.user, state: 'Requested' });
      return { requested: { id, node: capture.status.resolved?.node ?? capture.spec.target.node } };
    },
  };
}

async function listRestore(queue: CaptureQueue, id: string, restore: CaptureRestore): Promise<void> {
  const current = await queue.get(id);
  if (current === undefined) return;
  const restores = current.status.restores ?? [];
  if (restores.some((r) => r.number === restore.number)) return;
  await queue.updateStatus(id, { ...current.status, restores: [...restores, restore] });
}

import type { Logger } from 'pino';
import type { Settings } from '../../config/settings.js';
import { AmberError } from '../../core/amber-error.js';
import type { Capture } from '../../core/capture.js';
import type { PublicKeySet, SigningKey } from '../../evidence/signing-key.js';
import type { EvidenceRestorer, RestoreDone } from '../../http/evidence-restorer.js';
import type { CaptureQueue } from '../../queue/capture-queue.js';
import { openBundleTarget } from '../bundle-target.js';
import type { Io } from '../cli-support.js';
import type { RestoreRequest } from '../restore/restore-flags.js';
import { restoreSealed } from '../restore/restore-sealed.js';

/**
 * The restore button of `serve` (`ui.restore`): the sealed path of `amber restore` run in this
 * process, which holds the signing key and writes the store. The record is signed with the
 * server's key, names the signed-in user as the one who restored, and its custody says it came
 * from the evidence browser. One restore runs at a time (a push streams the whole archive; a
 * second click gets EVIDENCE_BUSY). Undefined when `ui.restore` is not set.
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
      // serve keeps its captures in its own journal, not as Capture resources: the list is written below
      captureNamespace: undefined,
      allowSameNamespace: false,
    },
    podman: false,
    dryRun: false,
  };
  let running: string | undefined;
  p.log.warn(
    { image: conf.image, namespace: conf.namespace },
    'the evidence browser can restore sealed captures into sandbox pods (ui.restore): anyone signed in can start one',
  );
  return {
    target: { image: conf.image, namespace: conf.namespace },
    async restore(capture, by, onProgress): Promise<RestoreDone> {
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
            // an encrypted archive needs an identity the server must not hold: such a restore is refused by restore-source
            identities: [],
            signingKey: async () => p.signingKey,
            by,
            via: 'the evidence browser',
            component: 'amber serve (evidence browser)',
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
        await listRestore(p.queue, capture.id, {
          number: record.number,
          at: record.at,
          by: `${record.restoredBy.user}@${record.restoredBy.host}`,
          record: made.record.uri,
          image,
          sandbox: { namespace: sandbox.namespace, pod: sandbox.pod, ...(sandbox.node !== undefined ? { node: sandbox.node } : {}) },
        }).catch((err: unknown) => {
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
    },
  };
}

async function listRestore(queue: CaptureQueue, id: string, restore: NonNullable<Capture['status']['restores']>[number]): Promise<void> {
  const current = await queue.get(id);
  if (current === undefined) return;
  const restores = current.status.restores ?? [];
  if (restores.some((r) => r.number === restore.number)) return;
  await queue.updateStatus(id, { ...current.status, restores: [...restores, restore] });
}

import { isAmberError } from '../../core/amber-error.js';
import { sha256Hex } from '../../core/canonical-json.js';
import type { RestoreRecord } from '../../evidence/restore-record.js';
import { RESTORE_FILE } from '../../evidence/restore-record.js';
import { captureApi } from '../../kube/capture-api.js';
import { loadKubeConfig } from '../../kube/kube-api.js';
import { sandboxApi } from '../../kube/sandbox-api.js';
import { addCaptureRestore } from '../../queue/kube/add-capture-restore.js';
import type { RestoreFacts } from '../../restore/record-restore.js';
import { parseNodeSelector, parseToleration, SANDBOX_LABELS, sandboxObjects } from '../../restore/sandbox-objects.js';
import type { Io } from '../cli-support.js';
import type { RestoreRequest } from './restore-flags.js';
import type { RestoreInput } from './restore-outputs.js';

/** A sandbox number is tried this many times when others took the earlier ones meanwhile. */
const NUMBER_ATTEMPTS = 20;

/**
 * The sandbox in the cluster: the Pod and its deny-all NetworkPolicy (or, with --dry-run, printed
 * and nothing created: undefined). Its number is one past the bundle's restore records and the
 * capture's sandboxes already in the namespace; a name taken meanwhile takes the next. After the
 * record is written, the Capture's status lists the restore (best-effort).
 */
export async function createSandbox(
  request: NonNullable<RestoreRequest['sandbox']>,
  image: string,
  input: RestoreInput,
  io: Io,
  dryRun: boolean,
): Promise<{ sandbox: NonNullable<RestoreFacts['sandbox']>; recorded: (record: RestoreRecord, uri: string) => Promise<void> } | undefined> {
  const manifest = input.sealed?.manifest;
  const captureId = manifest?.captureId ?? `unsealed-${input.archive.sha256.slice(0, 12)}`;
  const by = input.restoredBy;
  const build = (n: number) =>
    sandboxObjects({
      captureId,
      restoreNumber: n,
      image: byDigest(image),
      container: input.archive.container,
      namespace: request.namespace,
      node: request.node,
      runtimeClass: request.runtimeClass,
      tolerations: request.tolerations.map(parseToleration),
      nodeSelector: parseNodeSelector(request.nodeSelector),
      original: {
        namespace: manifest?.target.namespace ?? input.facts.namespace ?? '',
        pod: manifest?.target.pod ?? input.facts.pod ?? '',
        uid: manifest?.target.podUID,
      },
      bundleUri: input.sealed?.uri ?? '',
      manifestSha256: input.sealed ? sha256Hex(input.sealed.manifestBytes) : '',
      restoredBy: by,
      at: new Date().toISOString(),
      allowSameNamespace: request.allowSameNamespace,
      bindMounts: input.facts.bindMounts,
    });
  const records = input.sealed ? input.sealed.names.filter((n) => RESTORE_FILE.exec(n)?.[2] === 'json').length : 0;
  if (dryRun) {
    const objects = build(records + 1);
    io.out(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [objects.networkPolicy, objects.pod] }, null, 2));
    return undefined;
  }
  const kc = loadKubeConfig(request.kubeconfig, io.env);
  const api = sandboxApi(kc);
  const existing = await api.podNames(request.namespace, `${SANDBOX_LABELS.restoreOf}=${labelOf(build(1).pod)}`);
  let n = Math.max(records, existing.length) + 1;
  for (let attempt = 1; ; attempt++, n++) {
    const objects = build(n);
    if ((await api.create(request.namespace, objects)) === 'created') {
      io.out(`sandbox pod ${request.namespace}/${objects.name}, fenced by NetworkPolicy ${objects.name} (no ingress, no egress)`);
      const sandbox = {
        cluster: kc.getCurrentCluster()?.server ?? '',
        namespace: request.namespace,
        pod: objects.name,
        networkPolicy: objects.name,
        ...(request.node !== undefined ? { node: request.node } : {}),
        ...(request.runtimeClass !== undefined ? { runtimeClass: request.runtimeClass } : {}),
      };
      const captureNamespace = request.captureNamespace;
      const recorded = async (record: RestoreRecord, uri: string): Promise<void> => {
        if (manifest === undefined || captureNamespace === undefined) return;
        try {
          await addCaptureRestore(captureApi(kc, captureNamespace), manifest.captureId, {
            number: record.number,
            at: record.at,
            by: `${record.restoredBy.user}@${record.restoredBy.host}`,
            record: uri,
            image,
            sandbox: { namespace: sandbox.namespace, pod: sandbox.pod, ...(sandbox.node !== undefined ? { node: sandbox.node } : {}) },
          });
          io.err(`the Capture ${manifest.captureId} in ${captureNamespace} lists the restore`);
        } catch (e) {
          // the Capture's list is a convenience, best-effort: the signed record beside the bundle is the proof
          io.err(
            `the Capture ${manifest.captureId} in ${captureNamespace} does not list the restore: ${isAmberError(e) ? `${e.code} ${e.message}` : String(e)}`,
          );
        }
      };
      return { sandbox, recorded };
    }
    if (attempt >= NUMBER_ATTEMPTS) throw new Error(`no free sandbox name after ${NUMBER_ATTEMPTS} tries in ${request.namespace}`);
  }
}

/** `host[:port]/repo:tag@sha256:…` → `host[:port]/repo@sha256:…`: the pod names the image by its digest alone. */
function byDigest(reference: string): string {
  const [name = '', digest = ''] = reference.split('@');
  return `${name.replace(/:[^/]*$/, '')}@${digest}`;
}

function labelOf(pod: Record<string, unknown>): string {
  return ((pod['metadata'] as { labels?: Record<string, string> }).labels ?? {})[SANDBOX_LABELS.restoreOf] ?? '';
}

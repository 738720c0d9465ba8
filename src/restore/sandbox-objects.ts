import { AmberError } from '../core/amber-error.js';
import { AMBER_ANNOTATION } from './checkpoint-image.js';

/** The labels that name a sandbox: which capture it restores, which restore it is, and the pod itself. */
export const SANDBOX_LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  restoreOf: `${AMBER_ANNOTATION}/restore-of`,
  restore: `${AMBER_ANNOTATION}/restore`,
  /** unique per sandbox: the one label its NetworkPolicy selects */
  sandbox: `${AMBER_ANNOTATION}/sandbox`,
} as const;

export interface Toleration {
  readonly key?: string;
  readonly operator: 'Equal' | 'Exists';
  readonly value?: string;
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface SandboxInput {
  readonly captureId: string;
  /** n ≥ 1: the pod's name says which restore of the capture it is. */
  readonly restoreNumber: number;
  /** The checkpoint image by digest (`host/repo@sha256:…`): the pod runs exactly what was sealed. */
  readonly image: string;
  /** The checkpointed container's name: CRI-O restores into the container the image's annotation names. */
  readonly container: string;
  readonly namespace: string;
  readonly node?: string | undefined;
  readonly runtimeClass?: string | undefined;
  readonly tolerations?: readonly Toleration[];
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly original: { readonly namespace: string; readonly pod: string; readonly uid?: string | undefined };
  readonly bundleUri: string;
  readonly manifestSha256: string;
  readonly restoredBy: string;
  /** RFC 3339 */
  readonly at: string;
  /** The original's namespace is refused unless this is set. */
  readonly allowSameNamespace?: boolean;
  /**
   * Where the checkpointed container had bind mounts (its volumes, a service-account token…):
   * CRI-O refuses to restore unless the new container has a mount at each one its `bind.mounts`
   * lists. Those every container gets from the kubelet and the runtime are left to them; each
   * other one gets an empty, read-only stand-in.
   */
  readonly bindMounts?: readonly string[];
}

/** Mounts every container gets from the kubelet and the runtime: the restored container has them without a volume. */
const RUNTIME_MOUNTS = new Set(['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/dev/termination-log', '/dev/shm', '/run/.containerenv']);

/** The two objects of a sandbox, as the API takes them. */
export interface SandboxObjects {
  readonly pod: Record<string, unknown>;
  readonly networkPolicy: Record<string, unknown>;
  readonly name: string;
}

/** `amber-restore-<capture id>-<n>`, cut to fit a label value (63) with the number kept. */
export function sandboxName(captureId: string, n: number): string {
  const suffix = `-${n}`;
  const id = captureId.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return `amber-restore-${id}`.slice(0, 63 - suffix.length).replace(/-+$/, '') + suffix;
}

/**
 * The sandbox of one restore: a Pod running the checkpoint image, and a NetworkPolicy in the same
 * namespace that selects exactly that pod (by its unique sandbox label) and denies all its ingress
 * and egress. The pod gets no service-account token, no host namespaces, no service links, is
 * never restarted, and carries none of the original's labels — so no Service, NetworkPolicy or
 * controller of the original selects it — but names the capture in its labels and annotations.
 *
 * Its security context is left as the image's: CRIU restores the processes with the credentials,
 * capabilities and seccomp state they had, and a restore into a narrower context fails or
 * changes what the analyst sees. The fence is the network policy, the namespace, and the node
 * (`--runtime-class`, a forensic node pool).
 */
export function sandboxObjects(input: SandboxInput): SandboxObjects {
  const refuse = (problem: string): never => {
    throw new AmberError('RESTORE_REFUSED', { namespace: input.namespace, problem });
  };
  if (!/@sha256:[0-9a-f]{64}$/.test(input.image)) refuse(`the sandbox runs the image by digest, not ${input.image}`);
  if (input.namespace === input.original.namespace && input.allowSameNamespace !== true) {
    refuse(`the sandbox would run in ${input.namespace}, the original pod's namespace, beside it: pick a sandbox namespace (or --allow-same-namespace)`);
  }
  if (!Number.isInteger(input.restoreNumber) || input.restoreNumber < 1) refuse(`restore number ${input.restoreNumber} is not ≥ 1`);
  const name = sandboxName(input.captureId, input.restoreNumber);
  const standIns = [...new Set(input.bindMounts ?? [])].filter((d) => !RUNTIME_MOUNTS.has(d)).sort();
  for (const d of standIns) if (!d.startsWith('/') || d.includes('\0')) refuse(`the bind mount ${JSON.stringify(d)} is not an absolute path`);
  const labels = {
    [SANDBOX_LABELS.managedBy]: 'amber',
    [SANDBOX_LABELS.restoreOf]: labelValue(input.captureId),
    [SANDBOX_LABELS.restore]: String(input.restoreNumber),
    [SANDBOX_LABELS.sandbox]: name,
  };
  const annotations = {
    [`${AMBER_ANNOTATION}/capture-id`]: input.captureId,
    [`${AMBER_ANNOTATION}/bundle`]: input.bundleUri,
    [`${AMBER_ANNOTATION}/manifest-sha256`]: input.manifestSha256,
    [`${AMBER_ANNOTATION}/original`]: `${input.original.namespace}/${input.original.pod}${input.original.uid ? ` (uid ${input.original.uid})` : ''}`,
    [`${AMBER_ANNOTATION}/restored-by`]: input.restoredBy,
    [`${AMBER_ANNOTATION}/restored-at`]: input.at,
  };
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: input.namespace, labels, annotations },
    spec: {
      containers: [
        {
          name: input.container,
          image: input.image,
          imagePullPolicy: 'IfNotPresent',
          // an empty, read-only stand-in at each of the original's bind mounts: CRI-O's check passes
          // while nothing of the original's volumes (a token, a Secret, a host path) reaches the
          // restored process — what they held is in the bundle. A destination that was a file, not
          // a directory, cannot take an emptyDir: the runtime then fails the restore, naming it.
          ...(standIns.length > 0 ? { volumeMounts: standIns.map((d, i) => ({ name: `restore-mount-${i}`, mountPath: d, readOnly: true })) } : {}),
        },
      ],
      ...(standIns.length > 0 ? { volumes: standIns.map((_, i) => ({ name: `restore-mount-${i}`, emptyDir: { sizeLimit: '1Mi' } })) } : {}),
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      ...(input.node !== undefined ? { nodeName: input.node } : {}),
      ...(input.runtimeClass !== undefined ? { runtimeClassName: input.runtimeClass } : {}),
      ...(input.nodeSelector !== undefined && Object.keys(input.nodeSelector).length > 0 ? { nodeSelector: { ...input.nodeSelector } } : {}),
      ...(input.tolerations !== undefined && input.tolerations.length > 0 ? { tolerations: input.tolerations.map((t) => ({ ...t })) } : {}),
    },
  };
  const networkPolicy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: input.namespace, labels, annotations: { [`${AMBER_ANNOTATION}/capture-id`]: input.captureId } },
    // no ingress and no egress rule: nothing in, nothing out
    spec: { podSelector: { matchLabels: { [SANDBOX_LABELS.sandbox]: name } }, policyTypes: ['Ingress', 'Egress'] },
  };
  return { pod, networkPolicy, name };
}

/** A capture id as a label value (≤ 63, alphanumerics and -_. inside). */
function labelValue(v: string): string {
  return v
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/** `key=value:Effect`, `key:Effect`, `key:Exists` or `key=value` (every effect), as kubectl taints read. */
export function parseToleration(text: string): Toleration {
  const bad = (problem: string): never => {
    throw new AmberError('RESTORE_REFUSED', { toleration: text, problem });
  };
  const m = /^([A-Za-z0-9][-A-Za-z0-9_./]*)(?:=([-A-Za-z0-9_.]*))?(?::(NoSchedule|PreferNoSchedule|NoExecute|Exists))?$/.exec(text);
  if (!m?.[1]) return bad('write key=value:Effect, key:Effect or key:Exists (Effect: NoSchedule, PreferNoSchedule, NoExecute)');
  const [, key, value, effect] = m;
  if (effect === 'Exists') {
    if (value !== undefined) bad('key:Exists takes no value');
    return { key, operator: 'Exists' };
  }
  if (value === undefined) return { key, operator: 'Exists', ...(effect ? { effect: effect as Toleration['effect'] } : {}) } as Toleration;
  return { key, operator: 'Equal', value, ...(effect ? { effect: effect as Toleration['effect'] } : {}) } as Toleration;
}

/** `k=v` pairs of --node-selector. */
export function parseNodeSelector(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const m = /^([A-Za-z0-9][-A-Za-z0-9_./]*)=([-A-Za-z0-9_.]*)$/.exec(p);
    if (!m?.[1]) throw new AmberError('RESTORE_REFUSED', { nodeSelector: p, problem: 'write key=value' });
    out[m[1]] = m[2] ?? '';
  }
  return out;
}

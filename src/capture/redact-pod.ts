import { sha256Hex } from '../core/canonical-json.js';

const SECRET_NAME = /(pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key|credential|auth)/i;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

interface EnvVar {
  name?: string;
  value?: string;
  valueFrom?: unknown;
}

/**
 * The pod for pod.json, with secret-derived environment values redacted. The API never returns
 * the values of `secretKeyRef`s, but literal `value`s of variables named like secrets often are
 * secrets, and kubectl's last-applied annotation repeats them. A redacted value keeps its SHA-256
 * so an analyst can still compare it with a known value.
 */
export function redactPod<T>(pod: T): T {
  const copy = structuredClone(pod) as T & {
    spec?: { containers?: { env?: EnvVar[] }[]; initContainers?: { env?: EnvVar[] }[]; ephemeralContainers?: { env?: EnvVar[] }[] };
    metadata?: { annotations?: Record<string, string>; managedFields?: unknown };
  };
  for (const list of [copy.spec?.containers, copy.spec?.initContainers, copy.spec?.ephemeralContainers]) {
    for (const c of list ?? []) for (const env of c.env ?? []) redactVar(env);
  }
  const annotations = copy.metadata?.annotations;
  const applied = annotations?.[LAST_APPLIED];
  if (annotations && applied !== undefined) {
    try {
      annotations[LAST_APPLIED] = JSON.stringify(redactPod(JSON.parse(applied) as unknown));
    } catch {
      annotations[LAST_APPLIED] = '[redacted: unparseable]';
    }
  }
  return copy;
}

function redactVar(env: EnvVar): void {
  if (typeof env.value === 'string' && env.value !== '' && SECRET_NAME.test(env.name ?? '')) {
    env.value = `[redacted sha256:${sha256Hex(env.value)}]`;
  }
}

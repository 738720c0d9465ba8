import { AmberError, type ErrorCode } from '../core/amber-error.js';

/** Where a checkpoint was asked for: carried in every failure's details. */
export interface CheckpointWhere {
  readonly node: string;
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
}

interface Verdict {
  readonly code: ErrorCode;
  /** What the operator should do, one sentence; absent when there is nothing to do or to say. */
  readonly remedy?: string;
}

const REMEDY = {
  gateOff:
    "enable the ContainerCheckpoint feature gate on this node's kubelet (`featureGates: {ContainerCheckpoint: true}` " +
    'in its configuration; on by default from Kubernetes 1.30, absent before 1.25)',
  crioCriu:
    'enable checkpointing in CRI-O on the node: `enable_criu_support = true` under `[crio.runtime]`, ' +
    'CRIU installed where CRI-O finds it, then restart CRI-O',
  containerdCriu: "install CRIU 3.16 or newer on the node, on containerd's PATH, then restart containerd",
  noCriCall: 'the container runtime has no CRI checkpoint call: run CRI-O 1.25 or newer, or containerd 2.0 or newer, on the node',
  tcpEstablished:
    'add a line `tcp-established` to /etc/criu/runc.conf (or /etc/criu/default.conf) on the node: ' +
    "CRI-O does not pass --tcp-established to CRIU, so only CRIU's own configuration lets it checkpoint live TCP connections",
  inProgress: 'nothing: another client (a second amber, kubectl, a script) was checkpointing this container, ' + 'and amber retries once that is done',
  podGone:
    "nothing if the pod was deleted; if it still runs, amber asked another node's kubelet: " + "check NODE_IP and --kubelet-address on this node's agent",
  containerUnknown: 'check the container name the alert gives: the pod has no container of that name',
  timeout:
    "raise the policy's capture.timeoutSeconds (the runtime gives a checkpoint the larger of it " +
    "and the kubelet's --runtime-request-timeout, 2 minutes by default)",
  unauthorized:
    "the kubelet could not authenticate amber's token: it needs webhook token authentication " + '(`authentication.webhook.enabled: true`) and a current token',
  forbidden: "grant amber's service account `create` on `nodes/checkpoint` (the Helm chart's ClusterRole does)",
} as const;

/**
 * What a kubelet's non-200 answer to `POST /checkpoint/…` means, from the texts real kubelets and
 * runtimes write (test/fixtures/real-kubelet): each failure its own code, with the runtime's own
 * words kept (trimmed) and what to do about it.
 */
export function kubeletFailure(status: number, text: string, where: CheckpointWhere): AmberError {
  const verdict = classify(status, text);
  const details: Record<string, unknown> = { ...where, status, message: trimRuntimeText(text) };
  if (verdict.remedy !== undefined) details['remedy'] = verdict.remedy;
  return new AmberError(verdict.code, details);
}

function classify(status: number, raw: string): Verdict {
  const text = raw.trim();
  if (status === 401) return { code: 'KUBELET_UNAUTHORIZED', remedy: REMEDY.unauthorized };
  if (status === 403) return { code: 'KUBELET_FORBIDDEN', remedy: REMEDY.forbidden };
  if (status === 404) {
    // net/http's answer for a path no handler is registered for: the checkpoint route exists only under the gate
    if (text === '404 page not found') return { code: 'CHECKPOINT_FEATURE_GATE_OFF', remedy: REMEDY.gateOff };
    if (text === 'pod does not exist') return { code: 'POD_GONE', remedy: REMEDY.podGone };
    if (/^container .+ does not exist$/.test(text)) return { code: 'CONTAINER_NOT_FOUND', remedy: REMEDY.containerUnknown };
    // `cannot parse value of timeout parameter`, go-restful's `404: Page Not Found`: amber never sends such a request
    return { code: 'CHECKPOINT_NOT_AVAILABLE' };
  }
  if (status === 500) {
    if (/consider using --tcp-established/.test(text)) return { code: 'TCP_ESTABLISHED_REQUIRED', remedy: REMEDY.tcpEstablished };
    if (/checkpoint\/restore support not available/.test(text)) return { code: 'CHECKPOINTING_NOT_ENABLED', remedy: REMEDY.crioCriu };
    if (/CRIU binary not found or too old/.test(text)) return { code: 'CHECKPOINTING_NOT_ENABLED', remedy: REMEDY.containerdCriu };
    if (/code = Unimplemented desc = .*CheckpointContainer/.test(text)) return { code: 'CHECKPOINTING_NOT_ENABLED', remedy: REMEDY.noCriCall };
    // CRI-O pauses the container for the dump: an overlapping checkpoint finds it not running (runc) or paused (CRI-O's own check)
    if (/container process not found|failed to pause container .* before checkpointing|desc = container [0-9a-f]+ is not running/.test(text)) {
      return { code: 'CHECKPOINT_IN_PROGRESS', remedy: REMEDY.inProgress };
    }
    if (/code = DeadlineExceeded|context deadline exceeded/.test(text)) return { code: 'CHECKPOINT_TIMEOUT', remedy: REMEDY.timeout };
    // the kubelet's own look-up lists running containers only; the runtime's NotFound: removed while it ran
    if (/^checkpointing of \S+ failed \(container \S+ not found\)$/.test(text) || /code = NotFound/.test(text)) return { code: 'CONTAINER_NOT_RUNNING' };
    return { code: 'CHECKPOINT_FAILED' };
  }
  // 502/503/504: something between amber and the kubelet (a proxy, a load balancer) could not reach it
  if (status > 500) return { code: 'KUBELET_UNREACHABLE' };
  // 405, 406, 400: not an answer to the request amber sends (something in between rewrote it)
  if (status >= 400) return { code: 'CHECKPOINT_NOT_AVAILABLE' };
  return { code: 'CHECKPOINT_FAILED' };
}

const MAX_TEXT = 1500;
const LOG_LINE = /^(.*?)time="[^"]*" level=(\w+) msg=(.*)$/;

/**
 * A runtime's text short enough for a status message, its decisive words kept. runc quotes CRIU's
 * whole log into the error when a dump fails (logrus lines `time="…" level=… msg="…"`, 3–4 KB):
 * of those only the `Error (…)` and error-level lines are kept, with the log file's path, between
 * the text before the quote (the container) and the text after it (runc's exit).
 */
export function trimRuntimeText(raw: string): string {
  const text = raw.trim();
  const lines = text.split('\n');
  const logged = lines.map((l) => LOG_LINE.exec(l));
  const firstLog = logged.findIndex((m) => m !== null);
  if (firstLog < 0) return cap(text);
  let lastLog = firstLog;
  for (let i = firstLog; i < lines.length; i++) if (logged[i]) lastLog = i;
  const before = [...lines.slice(0, firstLog), logged[firstLog]?.[1] ?? ''].join(' ').trim();
  // the command runc was given is long and says nothing the container id does not
  const head = before.replace(/(: running "|: `).*$/, '').replace(/[: ]+$/, '');
  const after = lines
    .slice(lastLog + 1)
    .join(' ')
    .trim();
  let logFile: string | undefined;
  const decisive: string[] = [];
  for (const m of logged.slice(firstLog, lastLog + 1)) {
    if (!m) continue;
    const msg = unquote(m[3] ?? '');
    const quoting = /^--- Quoting "(.+)"$/.exec(msg);
    if (quoting) logFile = quoting[1];
    else if (/\bError \(/.test(msg) || m[2] === 'error' || m[2] === 'fatal') decisive.push(msg);
  }
  const log = logFile === undefined ? '' : ` — the whole log on the node: ${logFile}`;
  return cap(`${head}: ${decisive.join('; ')}${after ? ` ${after}` : ''}${log}`);
}

/** A logrus value: Go-quoted ("…" with \" \\ \t \n escapes) or bare. */
function unquote(v: string): string {
  if (!v.startsWith('"')) return v;
  try {
    return JSON.parse(v.replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1')) as string;
  } catch {
    return v.slice(1, -1);
  }
}

function cap(s: string): string {
  return s.length <= MAX_TEXT ? s : `${s.slice(0, MAX_TEXT - 1)}…`;
}

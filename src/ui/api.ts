/**
 * The page's client of amber's own HTTP API (/v1 and /ui/api): same origin, the session cookie,
 * and the CSRF token on every request that changes something. Nothing else is fetched.
 */

export interface Session {
  user: string;
  csrf: string;
  via: string;
  expiresAt?: string;
}

export interface CustodyEntry {
  seq: number;
  at: string;
  actor: { component: string; pod?: string; node?: string };
  action: string;
  details: Record<string, unknown>;
  prev: string;
  hash: string;
}

export interface CaptureSummary {
  id: string;
  createdAt: string;
  spec: {
    target: { namespace: string; pod: string; container?: string; node?: string };
    trigger: {
      source: string;
      rule: string;
      priority?: string;
      time: string;
      policy: string;
      signalDigest: string;
      asserted?: { user?: string; command?: string };
    };
    evidence: { retentionDays: number; lock: string; encryption?: { recipients: string[] } };
  };
  status: {
    phase: 'Pending' | 'Checkpointing' | 'Uploading' | 'Sealed' | 'Failed';
    phaseTimes: Record<string, string>;
    attempts: number;
    reason?: string;
    message?: string;
    retryAt?: string;
    bundle?: { uri: string; archives: { container: string; size: number; sha256: string }[]; signingKeyId: string };
    custody?: CustodyEntry[];
    report?: { state: string; indicators?: string[]; severities?: { high: number; medium: number; info: number }; reason?: string; message?: string };
    restores?: { number: number; at: string; by: string; record: string; image: string; sandbox?: { namespace: string; pod: string } }[];
    restoreRequests?: {
      id: string;
      at: string;
      by: string;
      state: 'Requested' | 'Running' | 'Done' | 'Failed';
      number?: number;
      reason?: string;
      message?: string;
    }[];
  };
}

export interface PolicySummary {
  name: string;
  description: string;
  file: string;
  disabled: boolean;
  match: unknown;
}

export interface Capture extends CaptureSummary {
  signals: unknown[];
  joined?: { at: string; phase: string; trigger: { policy: string; rule: string } }[];
}

export interface Check {
  check: string;
  ok: boolean;
  detail?: string;
  artifact?: string;
  line?: number;
}

export interface Verification {
  valid: boolean;
  target: string;
  checks: Check[];
  encryptedUnchecked: number;
}

export interface SecretRef {
  checkpoint: number;
  pid: number;
  field: 'env' | 'cmdline';
  index: number;
}

export interface Indicator {
  id: string;
  severity: 'high' | 'medium' | 'info';
  summary: string;
  pid?: number;
  path?: string;
  evidence?: Record<string, unknown>;
}

export interface ReportProcess {
  pid: number;
  ppid: number;
  comm: string;
  exe?: string;
  uid?: number;
  cwd?: string;
  cmdline: string[];
  env: string[];
  files: { fd: number; kind: string; path?: string; mode?: string }[];
  sockets: {
    fd: number;
    kind: string;
    family?: string;
    protocol?: string;
    state?: string;
    local?: string;
    remote?: string;
    path?: string;
    recvQueue?: number;
    sendQueue?: number;
  }[];
}

export interface ReportCheckpoint {
  archive: { container: string; name: string; size: number; sha256: string };
  container: Record<string, unknown>;
  processes: ReportProcess[];
  rootfsDiff: {
    added: { path: string; type: string; size: number; mode: string; sha256?: string; executable: boolean; linkTarget?: string }[];
    deleted: string[];
  };
  indicators: Indicator[];
  warnings: { file: string; message: string }[];
}

export interface Report {
  schema: string;
  captureId: string;
  generatedAt: string;
  checkpoints: ReportCheckpoint[];
}

export interface Match {
  pid: number;
  address: string;
  context: string;
  container: string;
}

export interface RestoreTarget {
  image: string;
  namespace: string;
}

export interface RestoreDone {
  number: number;
  record: string;
  image: string;
  sandbox: { namespace: string; pod: string; networkPolicy: string };
  signedBy: string;
}

/** An answer that was not 2xx: the API's stable code and its words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';

/** Remembers the token the session answer carried, for state-changing requests. */
export function useCsrf(token: string): void {
  csrf = token;
}

async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(signal ? { signal } : {}),
  });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let value: unknown;
  try {
    value = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'NOT_JSON', `the server answered ${res.status} with something that is not JSON`);
  }
  if (!res.ok) {
    const e = (value as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, e?.code ?? 'HTTP_' + res.status, e?.message ?? `HTTP ${res.status}`);
  }
  return value as T;
}

const enc = encodeURIComponent;

export const api = {
  session: () => call<Session>('GET', '/ui/api/session'),
  signIn: (token: string) => call<Session>('POST', '/ui/api/session', { token }),
  signOut: () => call<void>('DELETE', '/ui/api/session'),
  captures: (query: Record<string, string | undefined>) => {
    const q = Object.entries(query)
      .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
      .map(([k, v]) => `${enc(k)}=${enc(v)}`)
      .join('&');
    return call<{ captures: CaptureSummary[]; more: boolean }>('GET', `/v1/captures${q ? `?${q}` : ''}`);
  },
  capture: (id: string) => call<Capture>('GET', `/v1/captures/${enc(id)}`),
  policies: () => call<{ policies: PolicySummary[] }>('GET', '/v1/policies'),
  report: (id: string) => call<{ report: Report; masked: SecretRef[] }>('GET', `/v1/captures/${enc(id)}/report`),
  reveal: (id: string, ref: SecretRef) => call<{ value: string }>('POST', `/v1/captures/${enc(id)}/reveal`, ref),
  verification: (id: string) => call<Verification>('GET', `/v1/captures/${enc(id)}/verification`),
  bundleUrl: (id: string) => `/v1/captures/${enc(id)}/bundle.tar`,
  /** Where the restore button restores to; undefined when this server has no restore button (404). */
  restoreTarget: () =>
    call<RestoreTarget>('GET', '/v1/restores/target').catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }),
  /** `done` when this server restored it (serve); `requested` when the agent of the capture's node will (a responder). */
  restore: (id: string) => call<{ done: RestoreDone } | { requested: { id: string; node?: string } }>('POST', `/v1/captures/${enc(id)}/restores`),

  /** Memory search: calls onMatch per match line as it arrives; rejects with AbortError when cancelled. */
  async search(
    id: string,
    q: string,
    pid: number | undefined,
    signal: AbortSignal,
    onMatch: (m: Match) => void,
  ): Promise<{ matches: number; warnings: string[] }> {
    const res = await fetch(`/v1/captures/${enc(id)}/memory?q=${enc(q)}${pid !== undefined ? `&pid=${pid}` : ''}`, { credentials: 'same-origin', signal });
    if (!res.ok || !res.body) {
      const e = ((await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `HTTP ${res.status}`);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, nl)) as {
          match?: Match;
          done?: { matches: number; warnings: string[] };
          error?: { code: string; message: string };
        };
        buffered = buffered.slice(nl + 1);
        if (line.match) onMatch(line.match);
        if (line.error) throw new ApiError(200, line.error.code, line.error.message);
        if (line.done) return line.done;
      }
    }
    throw new ApiError(0, 'SEARCH_CUT', 'the search answer ended before its summary');
  },

  /** Server-sent capture changes; returns the close function. */
  events(onCapture: (c: CaptureSummary) => void, onState: (open: boolean) => void): () => void {
    const source = new EventSource('/v1/captures/events');
    source.addEventListener('capture', (e) => onCapture(JSON.parse((e as MessageEvent).data as string) as CaptureSummary));
    source.onopen = () => onState(true);
    source.onerror = () => onState(false);
    return () => source.close();
  },
};

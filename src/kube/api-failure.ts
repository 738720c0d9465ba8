import { STATUS_CODES } from 'node:http';
import { ApiException } from '@kubernetes/client-node';

/**
 * A failed Kubernetes API call, as one line can say it. @kubernetes/client-node's ApiException
 * puts the whole response body and every header into its message; nothing of that goes past
 * here: the status, the Status `message` (or the first line of a text body), and Retry-After.
 */
export interface ApiFailure {
  /** HTTP status; absent when no answer came (connection refused or cut, TLS, timeout) */
  readonly status?: number;
  readonly message: string;
  /** what the server asked for in `Retry-After` (or the Status's `details.retryAfterSeconds`) */
  readonly retryAfterSeconds?: number;
  /** another try may succeed: 408, 429, 5xx, or no answer at all */
  readonly transient: boolean;
}

const MAX_MESSAGE = 300;

/** The `message` of a metav1.Status body, which the client hands over as text or object. */
export function statusMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return oneLine(body);
    }
  }
  const m = (parsed as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? oneLine(m) : undefined;
}

function oneLine(text: string): string | undefined {
  const line = text.trim().split('\n')[0]?.trim() ?? '';
  if (line === '') return undefined;
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE)}…` : line;
}

/** Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function retryAfterOf(e: ApiException<unknown>): number | undefined {
  const headers = (e.headers ?? {}) as Record<string, unknown>;
  const fromHeader = parseRetryAfter(headers['retry-after'] ?? headers['Retry-After']);
  if (fromHeader !== undefined) return fromHeader;
  let body: unknown = e.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const s = (body as { details?: { retryAfterSeconds?: unknown } } | null)?.details?.retryAfterSeconds;
  return typeof s === 'number' && s > 0 ? s : undefined;
}

/** 408, 429 and 5xx: answers that may be different next time. */
export const isTransientStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500;

/** undici's `fetch failed` / `terminated` say little; their cause (a SocketError, ECONNREFUSED…) says what happened. */
function networkMessage(e: Error): string {
  const cause = e.cause as { message?: unknown; code?: unknown } | undefined;
  const inner = typeof cause?.message === 'string' && cause.message !== '' ? cause.message : undefined;
  const code =
    typeof cause?.code === 'string' ? cause.code : typeof (e as { code?: unknown }).code === 'string' ? String((e as { code?: unknown }).code) : undefined;
  const text = inner !== undefined ? `${e.message}: ${inner}` : e.message;
  return oneLine(code !== undefined && !text.includes(code) ? `${text} (${code})` : text) ?? 'no answer';
}

/** Describes any error a client-node call or Watch can end with. */
export function apiFailure(e: unknown): ApiFailure {
  if (e instanceof ApiException) {
    const status = e.code;
    const retryAfterSeconds = retryAfterOf(e);
    return {
      status,
      message: statusMessage(e.body) ?? STATUS_CODES[status] ?? `HTTP ${status}`,
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
      transient: isTransientStatus(status),
    };
  }
  // Watch: a refused watch is an Error with only `statusCode` (client-node drops body and headers)
  const statusCode = (e as { statusCode?: unknown } | null)?.statusCode;
  if (typeof statusCode === 'number') {
    return { status: statusCode, message: STATUS_CODES[statusCode] ?? `HTTP ${statusCode}`, transient: isTransientStatus(statusCode) };
  }
  if (e instanceof Error) return { message: networkMessage(e), transient: true };
  return { message: oneLine(String(e)) ?? 'unknown failure', transient: true };
}

/** `429 storage is (re)initializing (retry after 1 s)` — for log lines and /readyz. */
export function describeFailure(f: ApiFailure): string {
  const head = f.status !== undefined ? `${f.status} ${f.message}` : f.message;
  return f.retryAfterSeconds !== undefined ? `${head} (retry after ${f.retryAfterSeconds} s)` : head;
}

export interface Backoff {
  /** the first delay; each failure in a row doubles it */
  readonly baseMs: number;
  readonly maxMs: number;
}

/** The longest Retry-After honoured: the real API server asks for at most 32 s (priority and fairness). */
export const RETRY_AFTER_CAP_MS = 60_000;

/**
 * How long to wait after the `attempt`-th failure in a row: exponential from `baseMs` up to
 * `maxMs`, with jitter (half the step fixed, half random, so a DaemonSet's agents do not retry in
 * step), and never less than the server's Retry-After (capped at RETRY_AFTER_CAP_MS).
 */
export function retryDelayMs(attempt: number, backoff: Backoff, retryAfterSeconds?: number, random: () => number = Math.random): number {
  const step = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(step / 2 + random() * (step / 2));
  const asked = retryAfterSeconds === undefined ? 0 : Math.min(RETRY_AFTER_CAP_MS, retryAfterSeconds * 1000);
  return Math.max(jittered, asked);
}

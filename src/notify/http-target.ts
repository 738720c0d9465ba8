import type { Delivery, NotifyTarget } from './notifier.js';
import type { Notification } from './notification.js';
import { redactUrl } from './redact-url.js';
import { SIGNATURE_HEADER, signatureHeader } from './sign-body.js';
import { slackMessage } from './slack-message.js';

export interface HttpTargetOptions {
  readonly name: string;
  readonly type: 'webhook' | 'slack';
  readonly url: string;
  /** webhook: the HMAC key; never logged. */
  readonly secret?: Buffer | undefined;
  readonly on: ReadonlySet<'sealed' | 'failed'>;
  readonly policies?: ReadonlySet<string> | undefined;
  /** One request not answered within this long is cut (and retried). */
  readonly timeoutMs?: number;
}

/** A webhook (our JSON, optionally signed) or a Slack incoming webhook, POSTed with Node's fetch. */
export function httpTarget(o: HttpTargetOptions): NotifyTarget {
  const where = redactUrl(o.url);
  // fetch refuses a URL with userinfo: it becomes Basic credentials, as a browser would send them
  const parsed = new URL(o.url);
  const basic = parsed.username === '' && parsed.password === '' ? undefined : `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
  parsed.username = '';
  parsed.password = '';
  const url = parsed.toString();
  return {
    name: o.name,
    type: o.type,
    on: o.on,
    ...(o.policies === undefined ? {} : { policies: o.policies }),
    where,
    async send(n: Notification): Promise<Delivery> {
      const body = Buffer.from(JSON.stringify(o.type === 'slack' ? slackMessage(n) : n));
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'amber-notify' };
      if (basic !== undefined) headers['authorization'] = `Basic ${Buffer.from(basic).toString('base64')}`;
      if (o.type === 'webhook') headers['x-amber-event'] = n.event;
      if (o.type === 'webhook' && o.secret !== undefined) headers[SIGNATURE_HEADER] = signatureHeader(o.secret, body, Math.floor(Date.now() / 1000));
      let res: Response;
      try {
        res = await fetch(url, { method: 'POST', headers, body, redirect: 'error', signal: AbortSignal.timeout(o.timeoutMs ?? 10_000) });
      } catch (e) {
        // the error's own text may quote the URL: say only what kind of failure it was
        return { ok: false, retry: true, reason: connectionProblem(e) };
      }
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true };
      const retryAfterMs = retryAfter(res.headers.get('retry-after'));
      const retry = res.status === 429 || res.status === 408 || res.status >= 500;
      return { ok: false, retry, reason: `HTTP ${res.status}`, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
    },
  };
}

function connectionProblem(e: unknown): string {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return 'no answer in time';
  const cause = e instanceof Error ? (e.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? `connection failed (${cause.code})` : 'connection failed';
}

/** Retry-After in seconds or as an HTTP date → milliseconds from now; undefined when absent or unreadable. */
export function retryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

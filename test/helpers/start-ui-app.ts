import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { createLogger } from '../../src/cli/create-logger.js';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';
import type { ObjectReader } from '../../src/evidence/bundle-source.js';
import type { EvidenceRestorer } from '../../src/http/evidence-restorer.js';
import { IntakeMetrics } from '../../src/http/intake-metrics.js';
import { startServer, type RunningServer } from '../../src/http/start-server.js';
import { tokenAuthenticator } from '../../src/http/token-auth.js';
import { SignInLimiter, UiSessions, type UiSessionOptions } from '../../src/http/ui/ui-session.js';
import { loadPolicies } from '../../src/policy/load-policies.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { EvidenceDesk } from '../../src/review/evidence-desk.js';
import { LogSink } from './log-sink.js';
import { makeTestPki, type TestPki } from './make-certs.js';
import { TOKEN } from './start-test-app.js';

/** The built page (npm run build). */
export const ASSETS_DIR = 'dist/ui';

export interface UiAppOptions {
  /** Serve over TLS (test PKI); the sessions are then `secure`. */
  readonly tls?: boolean;
  readonly now?: () => number;
  readonly minutes?: number;
  readonly proxyUser?: UiSessionOptions['proxyUser'];
  readonly signInPerMinute?: number;
  /** A queue to serve (default: a new one in a temp dir, closed with the app). */
  readonly queue?: FileQueue;
  /** Where sealed bundles are read (the evidence routes); absent: those routes are not served. */
  readonly evidence?: { readonly store: ObjectReader; readonly jwks: JSONWebKeySet };
  /** The restore button's port; absent: its routes are not served. */
  readonly restorer?: EvidenceRestorer;
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly text: string;
  readonly raw: Buffer;
  /** The body parsed as JSON, or undefined. */
  readonly body: any;
}

export interface CallInit {
  readonly token?: string;
  readonly cookie?: string;
  readonly csrf?: string;
  readonly headers?: Record<string, string>;
  readonly json?: unknown;
}

export interface UiApp {
  readonly url: string;
  readonly server: RunningServer;
  readonly queue: FileQueue;
  readonly logs: LogSink;
  readonly sessions: UiSessions;
  call(method: string, path: string, init?: CallInit): Promise<Reply>;
  /** Signs in with `token` (default the app's): the cookie to send back (`name=value`) and the session. */
  signIn(token?: string): Promise<{ reply: Reply; cookie: string; csrf: string }>;
  close(): Promise<void>;
}

/** amber's HTTP app with the evidence browser (and the desk when given), on a real socket at 127.0.0.1. */
export async function startUiApp(options: UiAppOptions = {}): Promise<UiApp> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-ui-'));
  const logs = new LogSink();
  const log = createLogger('debug', logs);
  const queue = options.queue ?? (await FileQueue.open({ dir: join(dir, 'journal') }));
  const pki: TestPki | undefined = options.tls ? makeTestPki() : undefined;
  const sessions = new UiSessions({
    key: randomBytes(32),
    minutes: options.minutes ?? 60,
    secure: pki !== undefined,
    proxyUser: options.proxyUser,
    ...(options.now ? { now: options.now } : {}),
  });
  const server = await startServer(
    {
      log,
      queue,
      policies: await loadPolicies('policies'),
      auth: tokenAuthenticator([TOKEN], { acceptClientCerts: false }),
      metrics: new IntakeMetrics(),
      bodyLimit: DEFAULT_SETTINGS.bodyLimit,
      labelKeys: DEFAULT_SETTINGS.alertmanager.labels,
      version: 'test',
      ui: { sessions, limiter: new SignInLimiter(options.signInPerMinute ?? 100, options.now), assetsDir: ASSETS_DIR },
      ...(options.restorer ? { restorer: options.restorer } : {}),
      ...(options.evidence ? { desk: new EvidenceDesk(options.evidence), jwks: options.evidence.jwks } : {}),
    },
    { listen: '127.0.0.1:0', ...(pki ? { tls: { cert: pki.serverCert, key: pki.serverKey } } : {}) },
  );
  const ca = pki ? pki.read(pki.caCert) : undefined;
  const call = (method: string, path: string, init: CallInit = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      if (init.token !== undefined) headers['authorization'] = `Bearer ${init.token}`;
      if (init.cookie !== undefined) headers['cookie'] = init.cookie;
      if (init.csrf !== undefined) headers['x-csrf-token'] = init.csrf;
      const body = init.json === undefined ? undefined : JSON.stringify(init.json);
      if (body !== undefined) headers['content-type'] = 'application/json';
      const send = pki ? httpsRequest : httpRequest;
      const req = send(`${server.url}${path}`, { method, headers, agent: false, ...(ca ? { ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          const text = raw.toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON (the page, NDJSON)
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, raw, body: parsed });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  return {
    url: server.url,
    server,
    queue,
    logs,
    sessions,
    call,
    async signIn(token = TOKEN) {
      const reply = await call('POST', '/ui/api/session', { json: { token } });
      const set = reply.headers['set-cookie']?.[0] ?? '';
      return { reply, cookie: set.split(';')[0] ?? '', csrf: String(reply.body?.csrf ?? '') };
    },
    async close() {
      await server.close();
      if (!options.queue) await queue.close();
      if (pki) await rm(pki.dir, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export { TOKEN };

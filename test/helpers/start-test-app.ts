import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/cli/create-logger.js';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';
import { IntakeMetrics } from '../../src/http/intake-metrics.js';
import { startServer, type RunningServer } from '../../src/http/start-server.js';
import { noAuthenticator, tokenAuthenticator, type Authenticator } from '../../src/http/token-auth.js';
import type { CompiledPolicy } from '../../src/policy/compile-policy.js';
import { loadPolicies, parsePolicies } from '../../src/policy/load-policies.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { LogSink } from './log-sink.js';

export const TOKEN = 'test-token-0123456789abcdef';

export interface TestApp {
  readonly url: string;
  readonly server: RunningServer;
  readonly queue: FileQueue;
  readonly logs: LogSink;
  readonly dataDir: string;
  /** POST JSON (or raw text) with the bearer token. */
  post(path: string, body: unknown, init?: { headers?: Record<string, string>; raw?: string | Buffer; token?: string | null }): Promise<Answer>;
  get(path: string, token?: string | null): Promise<Answer>;
  close(): Promise<void>;
}

export interface Answer {
  readonly status: number;
  readonly body: any;
  readonly headers: Headers;
}

export interface TestAppOptions {
  /** Inline policy YAML; default: the shipped policies/ directory. */
  readonly policyYaml?: string;
  readonly policies?: readonly CompiledPolicy[];
  readonly auth?: Authenticator;
  readonly bodyLimit?: number;
  readonly dataDir?: string;
  readonly now?: () => number;
}

/** amber's HTTP app on a real socket (127.0.0.1, free port) with a real file journal in a temp dir. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'amber-test-')));
  const logs = new LogSink();
  const log = createLogger('debug', logs);
  const policies =
    options.policies ??
    (options.policyYaml !== undefined ? parsePolicies([{ file: 'inline.yaml', text: options.policyYaml }]) : await loadPolicies('policies'));
  const queue = await FileQueue.open({ dir: join(dataDir, 'journal'), ...(options.now ? { now: options.now } : {}) });
  const server = await startServer(
    {
      log,
      queue,
      policies,
      auth: options.auth ?? tokenAuthenticator([TOKEN], { acceptClientCerts: false }),
      metrics: new IntakeMetrics(),
      bodyLimit: options.bodyLimit ?? DEFAULT_SETTINGS.bodyLimit,
      labelKeys: DEFAULT_SETTINGS.alertmanager.labels,
      version: 'test',
    },
    { listen: '127.0.0.1:0' },
  );
  const call = async (
    method: string,
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = {},
    token: string | null = TOKEN,
  ): Promise<Answer> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...headers },
      ...(body === undefined ? {} : { body }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (metrics)
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  let closed = false;
  return {
    url: server.url,
    server,
    queue,
    logs,
    dataDir,
    post: (path, body, init = {}) =>
      call(
        'POST',
        path,
        init.raw ?? JSON.stringify(body),
        { 'content-type': 'application/json', ...(init.headers ?? {}) },
        init.token === undefined ? TOKEN : init.token,
      ),
    get: (path, token) => call('GET', path, undefined, {}, token === undefined ? TOKEN : token),
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      await queue.close();
      if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export { noAuthenticator };

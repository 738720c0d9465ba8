import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { AmberError } from '../core/amber-error.js';
import { KeyedLanes } from '../core/keyed-lanes.js';
import { kubeletFailure, trimRuntimeText } from './kubelet-answer.js';

export interface KubeletClientOptions {
  /** Service-account token, or a file re-read on every call (projected tokens rotate). */
  readonly token: { readonly value: string } | { readonly file: string };
  /** PEM of the CA that signed the kubelets' serving certificates. */
  readonly ca?: Buffer | string | undefined;
  /** Skip certificate verification (the caller logs a warning when it sets this). */
  readonly insecureSkipTLSVerify?: boolean;
  /** Extra seconds we wait beyond the checkpoint timeout before giving up on the kubelet. */
  readonly graceSeconds?: number;
}

export interface CheckpointResult {
  /** The archive path the kubelet reported (on the node). */
  readonly path: string;
  readonly requestedAt: string;
  readonly writtenAt: string;
}

/**
 * Calls a node's kubelet directly: `POST https://<node>:<port>/checkpoint/<ns>/<pod>/<ctr>?timeout=`,
 * authorised by RBAC `nodes/checkpoint` create — never through the API server's `nodes/proxy`.
 *
 * Checkpoints of one container run one at a time, at least a second apart: the kubelet names
 * archives with one-second resolution, so two in the same second would collide.
 */
export class KubeletClient {
  private readonly agent: Agent;
  private readonly lanes = new KeyedLanes();

  constructor(private readonly options: KubeletClientOptions) {
    this.agent = new Agent({
      connect: {
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        rejectUnauthorized: options.insecureSkipTLSVerify !== true,
      },
      keepAliveTimeout: 30_000,
    });
  }

  checkpoint(
    kubelet: { readonly host: string; readonly port: number },
    namespace: string,
    pod: string,
    container: string,
    timeoutSeconds: number,
  ): Promise<CheckpointResult> {
    // Lanes are keyed like the archive name (pod_namespace-container): `api`/`team-a`/`web` and
    // `api`/`team`/`a-web` share a file name, so they must share a lane too.
    const lane = `${kubelet.host}|${pod}_${namespace}-${container}`;
    // The next checkpoint of this container waits for this one and for the next second to begin.
    return this.lanes.run(lane, () => this.call(kubelet, namespace, pod, container, timeoutSeconds), nextSecond);
  }

  private async call(
    kubelet: { host: string; port: number },
    namespace: string,
    pod: string,
    container: string,
    timeoutSeconds: number,
  ): Promise<CheckpointResult> {
    const host = kubelet.host.includes(':') ? `[${kubelet.host}]` : kubelet.host;
    const path = `/checkpoint/${encodeURIComponent(namespace)}/${encodeURIComponent(pod)}/${encodeURIComponent(container)}`;
    const url = `https://${host}:${kubelet.port}${path}?timeout=${timeoutSeconds}`;
    const token = 'value' in this.options.token ? this.options.token.value : (await readFile(this.options.token.file, 'utf8')).trim();
    // The runtime raises a timeout below its default (2 min) to the default: wait at least that long.
    const waitMs = (Math.max(timeoutSeconds, RUNTIME_DEFAULT_TIMEOUT_SECONDS) + (this.options.graceSeconds ?? 30)) * 1000;
    const where = { node: kubelet.host, namespace, pod, container };
    const requestedAt = new Date().toISOString();
    let status: number;
    let text: string;
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        headersTimeout: waitMs,
        bodyTimeout: waitMs,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (cause) {
      const code = (cause as { code?: string }).code;
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
        throw new AmberError('CHECKPOINT_TIMEOUT', { ...where, waitedSeconds: waitMs / 1000 }, { cause });
      }
      throw new AmberError('KUBELET_UNREACHABLE', { ...where, problem: (cause as Error).message }, { cause });
    }
    if (status === 200) {
      let items: unknown;
      try {
        items = (JSON.parse(text) as { items?: unknown }).items;
      } catch {
        items = undefined;
      }
      const first = Array.isArray(items) ? items[0] : undefined;
      if (typeof first !== 'string' || !archiveNameFits(first, namespace, pod, container)) {
        throw new AmberError('CHECKPOINT_FAILED', { ...where, message: `unexpected kubelet answer: ${trimRuntimeText(text)}` });
      }
      return { path: first, requestedAt, writtenAt: new Date().toISOString() };
    }
    throw kubeletFailure(status, text, where);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

const RUNTIME_DEFAULT_TIMEOUT_SECONDS = 120;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The kubelet names archives `checkpoint-<pod>_<namespace>-<container>-<RFC 3339>.tar`; anything else is refused. */
export function archiveNameFits(path: string, namespace: string, pod: string, container: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const time = '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})';
  return new RegExp(`^checkpoint-${escape(pod)}_${escape(namespace)}-${escape(container)}-${time}\\.tar$`).test(name);
}

/**
 * The kubelet stamps the archive name (one-second resolution) with its own clock when the request
 * starts; a full second and a margin after the previous answer is safe whatever the clock skew.
 */
function nextSecond(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1050));
}

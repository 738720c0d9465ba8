import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { Checkpointer } from '../../src/capture/capture-deps.js';
import { AmberError } from '../../src/core/amber-error.js';
import type { KubeApi } from '../../src/kube/kube-api.js';

export const CONTAINER_ID = 'a'.repeat(12) + 'b'.repeat(52);

/** A pod as the API would return it, small but real-shaped. */
export function podObject(over: { name?: string; running?: boolean; secretEnv?: boolean } = {}): V1Pod {
  const name = over.name ?? 'web-1';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', uid: '5b0f7c1e-9a64-4d2b-8e3f-2c71a9d4b6e0' },
    spec: {
      nodeName: 'node-a',
      containers: [
        {
          name: 'app',
          image: 'ghcr.io/acme/app:1.0',
          env: [
            { name: 'DB_PASSWORD', value: 'hunter2' },
            { name: 'MODE', value: 'prod' },
            ...(over.secretEnv ? [{ name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] : []),
          ],
        },
      ],
    },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'app',
          image: 'ghcr.io/acme/app:1.0',
          imageID: `ghcr.io/acme/app@sha256:${'c'.repeat(64)}`,
          containerID: `containerd://${CONTAINER_ID}`,
          ready: true,
          restartCount: 0,
          state: over.running === false ? { waiting: { reason: 'CrashLoopBackOff' } } : { running: { startedAt: new Date('2026-11-28T09:00:00Z') } },
        },
      ],
    },
  };
}

export const NODE: V1Node = {
  metadata: { name: 'node-a' },
  status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } },
};

/** A KubeApi we own, whose answers and failures a test sets. */
export class FakeKube implements KubeApi {
  pods = new Map<string, V1Pod>([['shop/web-1', podObject()]]);
  failNext: AmberError[] = [];
  calls = 0;
  async readPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    this.calls++;
    const f = this.failNext.shift();
    if (f) throw f;
    return this.pods.get(`${namespace}/${name}`);
  }
  async readNode(): Promise<V1Node | undefined> {
    return NODE;
  }
  async readLogs(): Promise<string> {
    return 'line 1\nline 2\n';
  }
}

/** A kubelet stand-in that writes a small archive into the checkpoint dir, or fails as told. */
export class FakeKubelet implements Checkpointer {
  calls: { namespace: string; pod: string; container: string; timeoutSeconds: number }[] = [];
  failNext: AmberError[] = [];
  /** `writeArchive`: writes the archive file (default: a few KiB of text, not a real checkpoint). */
  constructor(
    private readonly dir: string,
    private readonly writeArchive?: (file: string, container: string) => Promise<void>,
  ) {}
  async checkpoint(_k: { host: string; port: number }, namespace: string, pod: string, container: string, timeoutSeconds: number) {
    this.calls.push({ namespace, pod, container, timeoutSeconds });
    const f = this.failNext.shift();
    if (f) throw f;
    const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const path = `/var/lib/kubelet/checkpoints/checkpoint-${pod}_${namespace}-${container}-${at}-${this.calls.length}.tar`;
    await mkdir(this.dir, { recursive: true });
    const file = join(this.dir, path.split('/').pop() as string);
    if (this.writeArchive) await this.writeArchive(file, container);
    else await writeFile(file, `archive of ${container} #${this.calls.length}\n`.repeat(100));
    return { path, requestedAt: new Date().toISOString(), writtenAt: new Date().toISOString() };
  }
}

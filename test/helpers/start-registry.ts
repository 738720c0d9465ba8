import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';

export interface TestRegistry {
  /** host:port */
  readonly address: string;
  readonly url: string;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * Debian's distribution registry (`docker-registry`, the registry v2 that Docker Hub's protocol is
 * named after) on 127.0.0.1, storing into a temp dir: plain HTTP, or HTTPS with `tls`; with
 * `htpasswd`, basic auth. Relative Location headers, so it works behind a fault proxy.
 */
export async function startRegistry(opts: { htpasswd?: string; tls?: { cert: string; key: string; ca: Buffer } } = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-registry-'));
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log: { level: error, accesslog: { disabled: true } }',
    `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }`,
    `http: { addr: "127.0.0.1:${port}", secret: amber-test, relativeurls: true${opts.tls ? `, tls: { certificate: ${opts.tls.cert}, key: ${opts.tls.key} }` : ''} }`,
    ...(opts.htpasswd ? [`auth: { htpasswd: { realm: amber-test, path: ${opts.htpasswd} } }`] : []),
  ].join('\n');
  await writeFile(join(dir, 'config.yml'), `${config}\n`);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const dispatcher = new Agent({ connect: opts.tls ? { ca: opts.tls.ca } : {} });
  for (let i = 0; ; i++) {
    try {
      const res = await request(`${url}/v2/`, { dispatcher });
      await res.body.dump();
      break;
    } catch (e) {
      if (i > 100 || child.exitCode !== null) throw new Error(`docker-registry did not start: ${stderr || (e as Error).message}`);
      await sleep(50);
    }
  }
  await dispatcher.close();
  return {
    address: `127.0.0.1:${port}`,
    url,
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

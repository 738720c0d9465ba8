import { createReadStream } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { hashFile } from '../../src/core/hash-stream.js';
import { checkpointImage } from '../../src/restore/checkpoint-image.js';
import { parseImageRef, pushImage } from '../../src/restore/registry-client.js';
import { rejected } from '../helpers/amber-errors.js';
import { REAL_DIR } from '../helpers/real-checkpoints.js';
import { startRegistry } from '../helpers/start-registry.js';

const CRIO = join(REAL_DIR, 'checkpoint-amber-pod_default-shell-2026-12-06T19:11:17Z.tar');

/**
 * The Docker token protocol in front of the real registry: a token service (GET /token with basic
 * credentials → {"token"}) and a gate that answers 401 with a Bearer challenge naming it unless the
 * request carries that token, and otherwise forwards to the registry — what a registry behind an
 * auth server (Harbor, GitLab, ECR's token endpoint) does.
 */
async function tokenGate(upstream: string): Promise<{ port: number; scopes: string[]; close(): Promise<void> }> {
  const TOKEN = 'amber-test-token';
  const scopes: string[] = [];
  const listen = (s: Server) => new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
  const auth = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    scopes.push(url.searchParams.get('scope') ?? '');
    const ok = req.headers.authorization === `Basic ${Buffer.from('analyst:amber-test-password').toString('base64')}`;
    res
      .writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
      .end(ok ? JSON.stringify({ token: TOKEN, expires_in: 300 }) : '{"details":"bad credentials"}');
  });
  const authPort = await listen(auth);
  const target = new URL(upstream);
  const gate = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${authPort}/token",service="test-registry",scope="repository:forensics/shell:pull,push"`,
          'content-type': 'application/json',
        })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const { authorization: _a, ...headers } = req.headers;
    const up = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  const port = await listen(gate);
  return { port, scopes, close: async () => void (await Promise.all([gate, auth].map((s) => new Promise((r) => s.close(r))))) };
}

t.test('a registry behind a token service: the bearer challenge is answered with a token fetched with the credentials', async (t) => {
  const registry = await startRegistry();
  t.teardown(() => registry.close());
  const gate = await tokenGate(registry.url);
  t.teardown(() => gate.close());
  const image = checkpointImage({
    archive: { ...(await hashFile(CRIO)), compression: 'none' },
    container: 'shell',
    architecture: 'amd64',
    created: '2026-12-07T08:00:00.000Z',
  });
  const ref = parseImageRef(`127.0.0.1:${gate.port}/forensics/shell:r1`, 'x');
  const refused = await rejected(pushImage(ref, image, async () => createReadStream(CRIO), { insecure: true }));
  t.equal(refused.code, 'REGISTRY_UNAUTHORIZED');
  t.match(String(refused.details['problem']), /the token service .*\/token answered 401 \(no credentials were given\)/);
  const pushed = await pushImage(ref, image, async () => createReadStream(CRIO), {
    insecure: true,
    credentials: { user: 'analyst', password: 'amber-test-password' },
  });
  t.equal(pushed.digest, image.manifest.descriptor.digest);
  t.ok(gate.scopes.includes('repository:forensics/shell:pull,push'), 'the token was asked for the scope the challenge named');
});

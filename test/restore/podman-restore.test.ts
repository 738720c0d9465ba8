import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import t from 'tap';
import { hashFile } from '../../src/core/hash-stream.js';
import { podmanRestore } from '../../src/restore/podman-restore.js';
import type { RestoreArchive } from '../../src/restore/restore-source.js';
import { rejected } from '../helpers/amber-errors.js';
import { REAL_DIR } from '../helpers/real-checkpoints.js';

const realCheckpoint = (file: string) => REAL_DIR + file;

const archiveOf = async (file: string, open?: () => Readable): Promise<RestoreArchive> => {
  const { sha256, size } = await hashFile(file);
  return { name: 'checkpoint-shell.tar', container: 'shell', sha256, size, open: async () => open?.() ?? createReadStream(file) };
};

t.test('an archive another engine wrote is refused before podman runs: Podman imports only its own exports', async (t) => {
  const crio = await archiveOf(realCheckpoint('checkpoint-amber-pod_default-shell-2026-12-06T19:11:17Z.tar'));
  const e = await rejected(podmanRestore(crio, { name: 'amber-restore-x-1', engine: 'cri-o', podman: '/nonexistent/podman' }));
  t.equal(e.code, 'RESTORE_REFUSED');
  t.match(String(e.details['problem']), /imports only archives Podman exported; this one was written by cri-o: restore it in a cluster/);
});

t.test('bytes that are not the sealed ones are never handed to podman', async (t) => {
  const file = realCheckpoint('shell.tar');
  const tampered = await archiveOf(file, () => Readable.from([Buffer.from('not the archive')]));
  const e = await rejected(podmanRestore(tampered, { name: 'amber-restore-x-1', engine: 'podman', podman: '/nonexistent/podman' }));
  t.equal(e.code, 'RESTORE_REFUSED');
  t.match(String(e.details['problem']), /read 15 bytes with sha256 [0-9a-f]{64}, sealed \d+ bytes/);
});

const podman = (() => {
  try {
    return execFileSync('podman', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
})();

t.test(
  'a Podman export restored with podman in an empty network namespace, or podman says why not',
  { skip: podman === undefined ? 'podman is not installed here' : false },
  async (t) => {
    const name = `amber-restore-test-${process.pid}`;
    t.teardown(() => {
      try {
        execFileSync('podman', ['rm', '-f', name], { stdio: 'ignore' });
      } catch {
        // nothing was restored
      }
    });
    const archive = await archiveOf(realCheckpoint('shell.tar'));
    try {
      const restored = await podmanRestore(archive, { name, engine: 'podman' });
      t.equal(restored.container, name);
      const networks = execFileSync('podman', ['inspect', '--format', '{{.State.Running}}', name], { encoding: 'utf8' }).trim();
      t.equal(networks, 'true', 'the restored container runs');
    } catch (e) {
      // here (Debian's podman without a restore-capable runc and CRIU) podman refuses: its own words come back
      const err = e as { code?: string; details?: Record<string, unknown> };
      t.equal(err.code, 'PODMAN_RESTORE_FAILED', `${podman}: ${String(err.details?.['podman'])}`);
      t.match(String(err.details?.['podman']), /\S/, "podman's message is kept");
      t.not(err.details?.['exitCode'], 0);
    }
  },
);

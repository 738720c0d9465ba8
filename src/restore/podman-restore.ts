import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AmberError } from '../core/amber-error.js';
import { HashStream } from '../core/hash-stream.js';
import type { RestoreArchive } from './restore-source.js';

/** What a Podman restore made: the container's name and id, and the network it has. */
export interface PodmanRestore {
  readonly container: string;
  readonly id: string;
  readonly network: string;
}

export interface PodmanOptions {
  /** The container's name: says which capture and which restore it is. */
  readonly name: string;
  /** The podman binary (default `podman` on the PATH). */
  readonly podman?: string;
  /** The engine that wrote the archive, when known: only Podman's own exports can be imported. */
  readonly engine?: string | undefined;
}

/**
 * Restores the archive on this machine with `podman container restore --import`, fenced from
 * every network: Podman's restore has no `--network` (4.x and 5.x re-create the networks the
 * container had), so podman runs in a new, empty network namespace (`unshare --net`). Whatever
 * network podman builds for the container then lives in that namespace, which reaches nothing —
 * not the host's networks, not the internet, not another restore.
 *
 * The archive is written to a private temp file first (podman reads a path), hashed on the way:
 * bytes that are not the sealed ones are never restored. Only archives Podman exported can be
 * imported (its `config.dump` is libpod's); a CRI-O or containerd archive is refused — restore
 * those in a cluster (`--image`, `--namespace`).
 */
export async function podmanRestore(archive: RestoreArchive, opts: PodmanOptions): Promise<PodmanRestore> {
  if (opts.engine !== undefined && opts.engine !== 'podman') {
    throw new AmberError('RESTORE_REFUSED', {
      archive: archive.name,
      problem: `--podman imports only archives Podman exported; this one was written by ${opts.engine}: restore it in a cluster (--image, --namespace)`,
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'amber-restore-'));
  try {
    const file = join(dir, 'checkpoint.tar');
    const hash = new HashStream();
    await pipeline(await archive.open(), hash, createWriteStream(file, { mode: 0o600 }));
    if (hash.sha256 !== archive.sha256 || hash.bytes !== archive.size) {
      throw new AmberError('RESTORE_REFUSED', {
        archive: archive.name,
        problem: `read ${hash.bytes} bytes with sha256 ${hash.sha256}, sealed ${archive.size} bytes ${archive.sha256}`,
      });
    }
    const podman = opts.podman ?? 'podman';
    const args = ['--net', podman, 'container', 'restore', '--import', file, '--name', opts.name, '--ignore-static-ip', '--ignore-static-mac'];
    const { code, stdout, stderr } = await run('unshare', args);
    if (code !== 0) {
      throw new AmberError('PODMAN_RESTORE_FAILED', { archive: archive.name, exitCode: code, podman: (stderr.trim() || stdout.trim()).slice(0, 2000) });
    }
    return { container: opts.name, id: stdout.trim().split('\n').pop() ?? '', network: 'none (an empty network namespace)' };
  } finally {
    // podman copied what it needs into its own storage
    await rm(dir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => reject(new AmberError('PODMAN_RESTORE_FAILED', { problem: `cannot run ${cmd}: ${e.message}` }, { cause: e })));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/**
 * Writes a checkpoint archive the way the runtimes do: one uncompressed tar, streamed to its final
 * path. Page data is generated chunk by chunk while the tar is written (flat memory at any size).
 *
 * The file is opened like both runtimes open it — os.OpenFile(path, O_RDWR|O_CREATE, 0600), no
 * O_TRUNC, no O_EXCL (CRI-O internal/lib/checkpoint.go exportCheckpoint; containerd
 * internal/cri/server/container_checkpoint_linux.go) — so a second checkpoint of the same
 * container in the same second silently overwrites the first archive in place.
 *
 * Entry order: CRI-O tars its IncludeFiles list in order (stats-dump, dump.log, checkpoint,
 * config.dump, spec.dump, bind.mounts, rootfs-diff.tar, deleted.files, io.kubernetes.cri-o.LogPath);
 * containerd's archive.Diff walks its directory, i.e. lexical order.
 */
import { closeSync, constants, createWriteStream, openSync } from 'node:fs';
import { pack, type Pack } from 'tar-stream';
import { buildCriuDump, MINER_CONFIG, type DumpedProcess, type PagesFile } from './criu-dump.js';
import {
  bindMounts,
  configDump,
  containerdStatus,
  criLog,
  DELETED_FILES,
  rootfsDiff,
  specDump,
  statusDump,
  type ContainerContext,
} from './runtime-metadata.js';

export interface ArchiveResult {
  /** bytes written by this checkpoint (the file may be longer if an older archive was overwritten in place) */
  written: number;
  entries: string[];
  processes: DumpedProcess[];
}

type Body = Buffer | PagesFile | 'dir';
/** name, body, mode: the modes are those of the real archives (tar tv of test/fixtures/real-checkpoints). */
type Entry = [name: string, body: Body, mode: number];

function addEntry(p: Pack, [name, body, mode]: Entry, mtime: Date): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (body === 'dir') {
      p.entry({ name, type: 'directory', mode, mtime, uid: 0, gid: 0 }, cb);
    } else if (Buffer.isBuffer(body)) {
      p.entry({ name, type: 'file', mode, mtime, uid: 0, gid: 0 }, body, cb);
    } else {
      const sink = p.entry({ name, type: 'file', mode, mtime, size: body.size, uid: 0, gid: 0 }, cb);
      body.write(sink).then(
        () => sink.end(null),
        (err: unknown) => sink.destroy(err instanceof Error ? err : new Error(String(err))),
      );
    }
  });
}

export async function writeCheckpointArchive(path: string, c: ContainerContext, pagesBytes: number): Promise<ArchiveResult> {
  const dump = buildCriuDump({
    seed: c.containerId,
    pagesBytes,
    podName: c.pod,
    podIP: c.podIP,
    env: c.env,
    argv: c.argv,
    now: c.checkpointedAt,
    container: c,
    hostPid: c.hostPid,
  });
  const crio = c.layout === 'crio';
  // CRIU creates its images 0644; runc writes descriptors.json 0600 under CRI-O, 0644 under containerd.
  const checkpoint: Entry[] = [
    ...dump.images.map((i): Entry => [`checkpoint/${i.name}`, i.data, i.name === 'descriptors.json' && crio ? 0o600 : 0o644]),
    ...dump.pages.map((pf): Entry => [`checkpoint/${pf.name}`, pf, 0o644]),
  ].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const rootfs = await rootfsDiff(c, MINER_CONFIG);
  const entries: Entry[] = crio
    ? [
        ['stats-dump', dump.statsDump, 0o644],
        ['dump.log', dump.dumpLog, 0o600],
        ['checkpoint/', 'dir', 0o600],
        ...checkpoint,
        ['config.dump', configDump(c), 0o600],
        ['spec.dump', specDump(c), 0o600],
        ['bind.mounts', bindMounts(c), 0o600],
        ['rootfs-diff.tar', rootfs, 0o644],
        ['deleted.files', Buffer.from(JSON.stringify(DELETED_FILES, null, 2)), 0o600],
        ['io.kubernetes.cri-o.LogPath', criLog(c), 0o644],
      ]
    : [
        ['checkpoint/', 'dir', 0o700],
        ...checkpoint,
        ['config.dump', configDump(c), 0o600],
        ['container.log', criLog(c), 0o600],
        ['dump.log', dump.dumpLog, 0o600],
        ['rootfs-diff.tar', rootfs, 0o644],
        ['spec.dump', specDump(c), 0o644],
        ['stats-dump', dump.statsDump, 0o600],
        ['status', containerdStatus(c), 0o600],
        ['status.dump', statusDump(c), 0o600],
      ];

  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
  const out = createWriteStream('', { fd, start: 0, autoClose: false });
  const p = pack();
  let written = 0;
  p.on('data', (data: unknown) => {
    const chunk = data as Buffer;
    written += chunk.length;
    if (!out.write(chunk)) {
      p.pause();
      out.once('drain', () => p.resume());
    }
  });
  const finished = new Promise<void>((resolve, reject) => {
    p.on('end', () => out.end(() => resolve()));
    p.on('error', reject);
    out.on('error', reject);
  });
  try {
    const mtime = new Date(c.checkpointedAt);
    for (const e of entries) await addEntry(p, e, mtime);
    p.finalize();
    await finished;
  } catch (err) {
    p.destroy();
    out.destroy();
    throw err;
  } finally {
    closeSync(fd);
  }
  return { written, entries: entries.map(([n]) => n), processes: dump.processes };
}

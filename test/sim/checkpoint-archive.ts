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
  bindMounts, configDump, containerdStatus, criLog, DELETED_FILES, dumpLog, rootfsDiff, specDump, statusDump,
  type ContainerContext,
} from './runtime-metadata.js';

export interface ArchiveResult {
  /** bytes written by this checkpoint (the file may be longer if an older archive was overwritten in place) */
  written: number;
  entries: string[];
  processes: DumpedProcess[];
}

type Body = Buffer | PagesFile | 'dir';

function addEntry(p: Pack, name: string, body: Body, mtime: Date): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (body === 'dir') {
      p.entry({ name, type: 'directory', mode: 0o700, mtime }, cb);
    } else if (Buffer.isBuffer(body)) {
      p.entry({ name, type: 'file', mode: 0o600, mtime }, body, cb);
    } else {
      const sink = p.entry({ name, type: 'file', mode: 0o600, mtime, size: body.size }, cb);
      body.write(sink).then(() => sink.end(null), (err: unknown) => sink.destroy(err instanceof Error ? err : new Error(String(err))));
    }
  });
}

export async function writeCheckpointArchive(path: string, c: ContainerContext, pagesBytes: number): Promise<ArchiveResult> {
  const env = c.env;
  const dump = buildCriuDump({ seed: c.containerId, pagesBytes, podName: c.pod, podIP: c.podIP, env, now: c.checkpointedAt });
  const checkpoint: [string, Body][] = [
    ...dump.images.map((i): [string, Body] => [`checkpoint/${i.name}`, i.data]),
    ...dump.pages.map((pf): [string, Body] => [`checkpoint/${pf.name}`, pf]),
  ].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const pids = dump.processes.map((p) => p.pid);
  const rootfs = await rootfsDiff(c, MINER_CONFIG);
  let entries: [string, Body][];
  if (c.layout === 'crio') {
    entries = [
      ['stats-dump', dump.statsDump], ['dump.log', dumpLog(c, pids)], ['checkpoint/', 'dir'], ...checkpoint,
      ['config.dump', configDump(c)], ['spec.dump', specDump(c)], ['bind.mounts', bindMounts(c)], ['rootfs-diff.tar', rootfs],
      ['deleted.files', Buffer.from(JSON.stringify(DELETED_FILES, null, 2))], ['io.kubernetes.cri-o.LogPath', criLog(c)],
    ];
  } else {
    entries = [
      ['checkpoint/', 'dir'], ...checkpoint, ['config.dump', configDump(c)], ['container.log', criLog(c)], ['dump.log', dumpLog(c, pids)],
      ['rootfs-diff.tar', rootfs], ['spec.dump', specDump(c)], ['stats-dump', dump.statsDump], ['status', containerdStatus(c)],
      ['status.dump', statusDump(c)],
    ];
  }

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
    for (const [name, body] of entries) await addEntry(p, name, body, mtime);
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

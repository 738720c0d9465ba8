import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { createZstdDecompress } from '../../analysis/archive/zstd-decompress.js';
import { inspectCheckpoint } from '../../analysis/inspect-checkpoint.js';
import type { Compression } from '../../analysis/archive/tar-walk.js';
import { HashStream } from '../../core/hash-stream.js';

/** What the image needs to know about the archive, read from the archive itself. */
export interface ArchiveFacts {
  /** podman, cri-o or containerd, told by the archive's contents (no engine writes its version into it) */
  readonly engine?: string | undefined;
  readonly criuVersion?: string | undefined;
  readonly container?: string | undefined;
  readonly pod?: string | undefined;
  readonly namespace?: string | undefined;
  /** OCI architecture (amd64, arm64…), from CRIU's images */
  readonly arch?: string | undefined;
  readonly rootfsImage?: string | undefined;
  readonly rootfsImageRef?: string | undefined;
  readonly compression: Compression;
  /**
   * Where the container had bind mounts (the OCI spec's mounts of type bind: the volumes, the
   * token, the runtime's files), for the sandbox's stand-ins; CRI-O's bind.mounts lists these.
   */
  readonly bindMounts: readonly string[];
  /** sha256 of the uncompressed tar: the image config's diff_id (the archive's own hash when it is not compressed) */
  readonly diffId?: string | undefined;
}

/**
 * Reads the archive once for its facts (the inspection amber inspect makes, streamed) and, when
 * the engine compressed it (Podman: zstd or gzip), once more to hash the tar inside, which an
 * image config names as the layer's diff_id.
 */
export async function describeArchive(open: () => Promise<Readable>): Promise<ArchiveFacts> {
  const { inspection } = await inspectCheckpoint(open);
  const c = inspection.container;
  const compression = inspection.compression ?? 'none';
  let diffId: string | undefined;
  if (compression !== 'none') {
    const hash = new HashStream();
    await pipeline(await open(), compression === 'gzip' ? createGunzip() : createZstdDecompress(), hash, new Writable({ write: (_c, _e, done) => done() }));
    diffId = hash.sha256;
  }
  return {
    engine: c.engine,
    criuVersion: c.criuVersion,
    container: c.name,
    pod: c.pod,
    namespace: c.namespace,
    arch: ociArch(c.arch),
    rootfsImage: c.image,
    rootfsImageRef: c.imageRef,
    compression,
    bindMounts: (inspection.mounts ?? [])
      .filter((m) => m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind'))
      .map((m) => m.destination),
    ...(diffId !== undefined ? { diffId } : {}),
  };
}

/** CRIU's and the kernel's names (x86_64, aarch64) as OCI's (amd64, arm64). */
function ociArch(arch: string | undefined): string | undefined {
  if (arch === undefined) return undefined;
  const known: Record<string, string> = { x86_64: 'amd64', amd64: 'amd64', aarch64: 'arm64', arm64: 'arm64', ppc64le: 'ppc64le', s390x: 's390x' };
  return known[arch.toLowerCase()] ?? arch;
}

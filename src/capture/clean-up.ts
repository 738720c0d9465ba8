import { unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { EvidenceBundle } from './evidence-bundle.js';
import { nodeCopyOf } from './archive-access.js';

/**
 * Clean-up, once a capture ends (Sealed or Failed): no unfinished multipart upload is left under
 * its bundle (a retried create, an attempt killed mid-upload). Best-effort: they only cost storage.
 */
export async function abortLeftoverUploads(bundle: EvidenceBundle, log: Logger): Promise<void> {
  await bundle.abortUploads().catch((err: unknown) => log.warn({ err }, 'could not abort unfinished uploads of the capture'));
}

/**
 * Clean-up, once the stored copies are hashed and sealed: the kubelet's archives leave the node.
 * Best-effort: a copy that cannot be deleted is logged and left.
 */
export async function deleteNodeCopies(checkpointDir: string, checkpoints: readonly { readonly path: string }[], log: Logger): Promise<void> {
  for (const c of checkpoints) {
    await unlink(nodeCopyOf(checkpointDir, c)).catch((e: unknown) => {
      // ENOENT: the store took the file when it stored it
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err: e, path: c.path }, 'could not delete the node copy');
    });
  }
}

/** The real CRI-O and containerd checkpoint archives in test/fixtures/real-checkpoints (see its README). */
import { fileURLToPath } from 'node:url';
import { readTar, type TarEntry } from './helpers.js';

export const REAL_DIR = fileURLToPath(new URL('../fixtures/real-checkpoints/', import.meta.url));

export interface RealArchive {
  /** the folder beside the archive: crit/, archive-listing.txt, ground-truth.json */
  dir: string;
  tar: string;
  engine: 'crio' | 'containerd';
}

export const REAL_ARCHIVES: readonly RealArchive[] = [
  { dir: 'crio-shell', tar: 'checkpoint-amber-pod_default-shell-2026-12-06T19:11:17Z.tar', engine: 'crio' },
  { dir: 'crio-revshell', tar: 'checkpoint-amber-pod_default-revshell-2026-12-06T19:11:54Z.tar', engine: 'crio' },
  { dir: 'ctrd-app', tar: 'checkpoint-ctrd-pod_default-app-2026-12-06T20:38:09Z.tar', engine: 'containerd' },
];

/** Every member of a real archive, bodies included (they are small). */
export function readRealArchive(a: RealArchive): Promise<TarEntry[]> {
  return readTar(REAL_DIR + a.tar, () => true);
}

/** crit's decode of a member of `checkpoint/` (or of the top-level stats-dump). */
export function critPath(a: RealArchive, image: string): string {
  return `${REAL_DIR}${a.dir}/crit/${image === 'stats-dump' ? 'stats-dump' : image}.json`;
}

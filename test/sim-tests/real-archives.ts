/** The real CRI-O and containerd checkpoint archives in test/fixtures/real-checkpoints (see its README). */
import { fileURLToPath } from 'node:url';
import { REAL_ARCHIVES as FIXTURE_ARCHIVES } from '../helpers/real-checkpoints.js';
import { readTar, type TarEntry } from './helpers.js';

export const REAL_DIR = fileURLToPath(new URL('../fixtures/real-checkpoints/', import.meta.url));

export interface RealArchive {
  /** the folder beside the archive: crit/, archive-listing.txt, ground-truth.json */
  dir: string;
  tar: string;
  engine: 'crio' | 'containerd';
}

/** The archives a kubelet made (CRI-O, containerd) among the fixtures' (test/helpers/real-checkpoints.ts). */
export const REAL_ARCHIVES: readonly RealArchive[] = FIXTURE_ARCHIVES.flatMap((a) =>
  a.engine === 'podman' ? [] : [{ dir: a.folder, tar: a.file, engine: a.engine === 'cri-o' ? ('crio' as const) : ('containerd' as const) }],
);

/** Every member of a real archive, bodies included (they are small). */
export function readRealArchive(a: RealArchive): Promise<TarEntry[]> {
  return readTar(REAL_DIR + a.tar, () => true);
}

/** crit's decode of a member of `checkpoint/` (or of the top-level stats-dump). */
export function critPath(a: RealArchive, image: string): string {
  return `${REAL_DIR}${a.dir}/crit/${image === 'stats-dump' ? 'stats-dump' : image}.json`;
}

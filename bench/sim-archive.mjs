// The archive the inspection benches read: the simulated cluster's CRI-O checkpoint of shop/web's
// container `app`, with `gib` GiB of pages (built from dist/: run `npm run build` first).
// bench/inspect.mjs searches it as it is; bench/yara.mjs then makes pid 1's heap memory-like.

/** Writes the archive to `path`; resolves with what writeCheckpointArchive says of it (its processes and pagemaps). */
export async function writeBenchArchive(path, gib) {
  const { writeCheckpointArchive } = await import('../dist/sim/checkpoint-archive.js');
  const { sampleContainer } = await import('../dist/sim/sample-container.js');
  const container = sampleContainer('crio', { env: ['PATH=/usr/bin:/bin', 'HOSTNAME=web'] }, Date.now());
  return writeCheckpointArchive(path, container, gib * 1024 ** 3);
}

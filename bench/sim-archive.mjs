// The archive the inspection benches read: the simulated cluster's CRI-O checkpoint of shop/web's
// container `app`, with `gib` GiB of pages (built from dist/: run `npm run build` first).
// bench/inspect.mjs searches it as it is; bench/yara.mjs then makes pid 1's heap memory-like.

/** Writes the archive to `path`; resolves with what writeCheckpointArchive says of it (its processes and pagemaps). */
export async function writeBenchArchive(path, gib) {
  const { writeCheckpointArchive } = await import('../dist/sim/checkpoint-archive.js');
  const now = Date.now();
  return writeCheckpointArchive(
    path,
    {
      layout: 'crio',
      namespace: 'shop',
      pod: 'web',
      podUid: '5b0f7c1e-9a64-4d2b-8e3f-2c71a9d4b6e0',
      container: 'app',
      containerId: '3f'.repeat(32),
      sandboxId: '9c'.repeat(32),
      image: 'ghcr.io/acme/app:1.4.2',
      imageRef: `ghcr.io/acme/app@sha256:${'ab'.repeat(32)}`,
      imageId: 'cd'.repeat(32),
      podIP: '10.244.1.7',
      hostPid: 48121,
      createdAt: now - 3_600_000,
      startedAt: now - 3_599_000,
      checkpointedAt: now,
      restartCount: 0,
      argv: ['/bin/sh', '/app/entrypoint.sh'],
      env: ['PATH=/usr/bin:/bin', 'HOSTNAME=web'],
      logLines: ['listening on :8080'],
    },
    gib * 1024 ** 3,
  );
}

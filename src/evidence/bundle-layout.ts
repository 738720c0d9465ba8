/**
 * The one place that knows evidence object keys. Nothing else builds a key by hand.
 *
 *   <prefix>/<cluster>/<yyyy>/<mm>/<dd>/<capture-id>/
 *     checkpoint-<container>.tar  pod.json  signals.json  logs-<container>.txt  report.json
 *     custody.jsonl  manifest.json  manifest.jws  addendum.json  addendum.jws
 */
export interface BundleLayout {
  /** `<prefix>/<cluster>/<yyyy>/<mm>/<dd>/<capture-id>` (no trailing slash). */
  readonly dir: string;
  /** The key of the artifact named `name` (an ARTIFACT_NAMES name) in this bundle. */
  key(name: string): string;
  archive(container: string): string;
  logs(container: string): string;
  readonly podJson: string;
  readonly signals: string;
  readonly report: string;
  readonly custody: string;
  readonly manifest: string;
  /** Written last: a bundle without it is visibly unsealed. */
  readonly manifestJws: string;
  /** Evidence added after sealing (the triage report), signed on its own: addendum.json + .jws. */
  readonly addendum: string;
  readonly addendumJws: string;
}

/** Artifact file names inside a bundle directory (the manifest lists these names). */
export const ARTIFACT_NAMES = {
  archive: (container: string) => `checkpoint-${container}.tar`,
  logs: (container: string) => `logs-${container}.txt`,
  podJson: 'pod.json',
  signals: 'signals.json',
  report: 'report.json',
  custody: 'custody.jsonl',
  manifest: 'manifest.json',
  manifestJws: 'manifest.jws',
  addendum: 'addendum.json',
  addendumJws: 'addendum.jws',
  /** An artifact stored encrypted to age recipients: `<name>.age` (also for keys). */
  encrypted: (nameOrKey: string) => `${nameOrKey}.age`,
} as const;

export function bundleLayout(opts: { prefix: string; cluster: string; captureId: string; createdAt: string }): BundleLayout {
  const d = new Date(opts.createdAt);
  const yyyy = String(d.getUTCFullYear()).padStart(4, '0');
  const mm = String(d.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(d.getUTCDate()).padStart(2, '0');
  const parts = [opts.prefix.replace(/^\/+|\/+$/g, ''), opts.cluster, yyyy, mm, dd, opts.captureId].filter((p) => p !== '');
  const dir = parts.join('/');
  const at = (name: string) => `${dir}/${name}`;
  return {
    dir,
    key: at,
    archive: (container) => at(ARTIFACT_NAMES.archive(container)),
    logs: (container) => at(ARTIFACT_NAMES.logs(container)),
    podJson: at(ARTIFACT_NAMES.podJson),
    signals: at(ARTIFACT_NAMES.signals),
    report: at(ARTIFACT_NAMES.report),
    custody: at(ARTIFACT_NAMES.custody),
    manifest: at(ARTIFACT_NAMES.manifest),
    manifestJws: at(ARTIFACT_NAMES.manifestJws),
    addendum: at(ARTIFACT_NAMES.addendum),
    addendumJws: at(ARTIFACT_NAMES.addendumJws),
  };
}

/**
 * Container facts from the runtime's metadata files in a checkpoint archive.
 *
 * Both runtimes write `config.dump` (checkpointctl's metadata.ContainerConfig: id, name,
 * rootfsImage, rootfsImageRef, rootfsImageName, runtime = the OCI runtime, createdTime,
 * checkpointedTime) and `spec.dump` (the OCI runtime spec, whose annotations name the pod).
 * CRI-O annotates `io.kubernetes.pod.name` / `.namespace`, `io.kubernetes.container.name` and
 * `io.kubernetes.cri-o.Metadata` ({"name":…}); containerd annotates `io.kubernetes.cri.sandbox-name`,
 * `…sandbox-namespace` and `…container-name`, and adds `status.dump` (CRI ContainerStatus as JSON:
 * metadata.name, image.image, image_ref, created_at in ns, labels). What a file lacks, the next one
 * may supply; unreadable JSON is a warning.
 */
import type { AnalysisWarning } from './criu-model.js';
import type { ContainerFacts } from './inspection.js';

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Go's zero time.Time marshals as year 1: it means "never". */
function goTime(v: unknown): string | undefined {
  const s = str(v);
  if (!s || s.startsWith('0001-01-01')) return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : s;
}

function nsTime(v: unknown): string | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return undefined;
  return new Date(Math.floor(v / 1e6)).toISOString();
}

export interface MetadataFiles {
  config?: Buffer;
  spec?: Buffer;
  status?: Buffer;
  /** names of the archive's top-level entries, for the runtime's fingerprint */
  entryNames: ReadonlySet<string>;
}

function parse(name: string, data: Buffer | undefined, warnings: AnalysisWarning[]): Json | undefined {
  if (!data) return undefined;
  try {
    const v = obj(JSON.parse(data.toString('utf8')));
    if (!v) warnings.push({ file: name, message: 'not a JSON object' });
    return v;
  } catch (e) {
    warnings.push({ file: name, message: `not JSON: ${(e as Error).message}` });
    return undefined;
  }
}

export function containerFacts(files: MetadataFiles): { facts: ContainerFacts; warnings: AnalysisWarning[] } {
  const warnings: AnalysisWarning[] = [];
  const config = parse('config.dump', files.config, warnings) ?? {};
  const spec = parse('spec.dump', files.spec, warnings) ?? {};
  const status = parse('status.dump', files.status, warnings) ?? {};
  const ann = obj(spec.annotations) ?? {};
  const a = (k: string) => str(ann[k]);
  const labels = obj(status.labels) ?? {};
  let crioMetaName: string | undefined;
  const crioMeta = a('io.kubernetes.cri-o.Metadata');
  if (crioMeta) {
    try { crioMetaName = str(obj(JSON.parse(crioMeta))?.name); } catch { /* an annotation we only fall back on */ }
  }

  const names = files.entryNames;
  const crio = a('io.container.manager') === 'cri-o' || names.has('io.kubernetes.cri-o.LogPath') || names.has('bind.mounts')
    || Object.keys(ann).some((k) => k.startsWith('io.kubernetes.cri-o.'));
  const containerd = names.has('status.dump') || names.has('container.log') || Object.keys(ann).some((k) => k.startsWith('io.kubernetes.cri.'));
  const runtime = crio ? 'cri-o' : containerd ? 'containerd' : a('io.container.manager');

  const facts: ContainerFacts = {
    runtime,
    name: a('io.kubernetes.container.name') ?? a('io.kubernetes.cri.container-name') ?? crioMetaName ?? str(obj(status.metadata)?.name)
      ?? str(labels['io.kubernetes.container.name']) ?? (crio || containerd ? undefined : str(config.name)),
    id: str(config.id) ?? str(status.id) ?? a('io.kubernetes.cri-o.ContainerID'),
    image: str(config.rootfsImageName) ?? str(config.rootfsImage) ?? a('io.kubernetes.cri-o.ImageName') ?? a('io.kubernetes.cri.image-name') ?? str(obj(status.image)?.image),
    imageRef: str(config.rootfsImageRef) ?? str(status.image_ref) ?? a('io.kubernetes.cri-o.ImageRef'),
    pod: a('io.kubernetes.pod.name') ?? a('io.kubernetes.cri.sandbox-name') ?? str(labels['io.kubernetes.pod.name']),
    namespace: a('io.kubernetes.pod.namespace') ?? a('io.kubernetes.cri.sandbox-namespace') ?? str(labels['io.kubernetes.pod.namespace']),
    createdAt: goTime(config.createdTime) ?? goTime(a('io.kubernetes.cri-o.Created')) ?? nsTime(status.created_at),
    checkpointedAt: goTime(config.checkpointedTime),
    ociRuntime: str(config.runtime),
  };
  for (const k of Object.keys(facts) as (keyof ContainerFacts)[]) if (facts[k] === undefined) delete facts[k];
  return { facts, warnings };
}

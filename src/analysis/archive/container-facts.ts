/**
 * Container facts from the engine's metadata files in a checkpoint archive, and which engine wrote it.
 *
 * Every engine writes `config.dump` and `spec.dump` (the OCI runtime spec). CRI-O's `config.dump`
 * is checkpointctl's metadata.ContainerConfig ({id, name, rootfsImage, rootfsImageRef,
 * rootfsImageName, runtime = the OCI runtime, createdTime, checkpointedTime}); containerd 2.x
 * writes the same shape and adds `status.dump` (CRI ContainerStatus as JSON), `status` and
 * `container.log`; Podman's `config.dump` is libpod's own container config (name, id,
 * rootfsImageName, runtime, createdTime, CreateCommand, lockID, …) and its archive adds
 * `network.status`, `ctr.log`, `devshm-checkpoint.tar` and `artifacts/`.
 *
 * Pod and container names come from the spec's annotations where the engine puts them: CRI-O
 * `io.kubernetes.pod.name` / `.namespace` and `io.kubernetes.cri-o.Metadata` ({"name":…});
 * containerd `io.kubernetes.cri.sandbox-name` / `-namespace` / `container-name`. Podman names the
 * container in its config (it has no Kubernetes pod). What a file lacks, the next may supply;
 * unreadable JSON is a warning.
 */
import type { AnalysisWarning } from '../criu/criu-model.js';
import type { ContainerFacts, Engine, MountInfo } from '../inspection.js';
import { networkFacts } from '../network-facts.js';

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
  /** Podman's network.status */
  networkStatus?: Buffer;
  /** the start of dump.log, for CRIU's version */
  dumpLogHead?: string;
  /** names of the archive's top-level entries (without a trailing `/`), for the engine's fingerprint */
  entryNames: ReadonlySet<string>;
}

export interface ContainerMetadata {
  facts: ContainerFacts;
  mounts: MountInfo[];
  warnings: AnalysisWarning[];
}

export function parseJson(name: string, data: Buffer | undefined, warnings: AnalysisWarning[]): unknown {
  if (!data) return undefined;
  try {
    return JSON.parse(data.toString('utf8'));
  } catch (e) {
    warnings.push({ file: name, message: `not JSON: ${(e as Error).message}` });
    return undefined;
  }
}

function parseObject(name: string, data: Buffer | undefined, warnings: AnalysisWarning[]): Json | undefined {
  const v = parseJson(name, data, warnings);
  if (v === undefined) return undefined;
  const o = obj(v);
  if (!o) warnings.push({ file: name, message: 'not a JSON object' });
  return o;
}

const PODMAN_MEMBERS = ['network.status', 'ctr.log', 'devshm-checkpoint.tar', 'artifacts'];
const CRIO_MEMBERS = ['io.kubernetes.cri-o.LogPath', 'bind.mounts'];
const CONTAINERD_MEMBERS = ['status.dump', 'status', 'container.log'];
const LIBPOD_CONFIG_KEYS = ['lockID', 'CreateCommand', 'staticDir'];

/**
 * The engine, from the archive's contents and never its name. CRI-O and Podman say who they are
 * in `io.container.manager` (`cri-o`, `libpod`); containerd does not. Podman copies CRI-O's
 * `io.kubernetes.cri-o.*` annotations into its spec, so those alone never mean CRI-O.
 */
export function detectEngine(names: ReadonlySet<string>, annotations: Json, config: Json): Engine | undefined {
  const manager = str(annotations['io.container.manager']);
  if (manager === 'libpod') return 'podman';
  if (manager === 'cri-o') return 'cri-o';
  const has = (list: string[]) => list.some((n) => names.has(n));
  if (has(PODMAN_MEMBERS) || LIBPOD_CONFIG_KEYS.some((k) => k in config)) return 'podman';
  if (has(CRIO_MEMBERS)) return 'cri-o';
  const keys = Object.keys(annotations);
  if (has(CONTAINERD_MEMBERS) || keys.some((k) => k.startsWith('io.kubernetes.cri.'))) return 'containerd';
  if (keys.some((k) => k.startsWith('io.kubernetes.cri-o.'))) return 'cri-o';
  return undefined;
}

/** CRIU writes `Version: 4.2 (gitid 0)` near the start of every log. */
function criuVersion(head: string | undefined): string | undefined {
  const m = head ? /\bVersion: (\S+)(?: \(gitid ([^)\s]+)\))?/.exec(head) : null;
  if (!m) return undefined;
  return m[2] && m[2] !== '0' ? `${m[1]} (${m[2]})` : m[1];
}

function mountsOf(spec: Json, warnings: AnalysisWarning[]): MountInfo[] {
  if (spec.mounts === undefined) return [];
  if (!Array.isArray(spec.mounts)) {
    warnings.push({ file: 'spec.dump', message: '`mounts` is not a list' });
    return [];
  }
  const out: MountInfo[] = [];
  for (const m of spec.mounts) {
    const o = obj(m);
    const destination = str(o?.destination);
    if (!o || !destination) continue;
    const options = Array.isArray(o.options) ? o.options.filter((x): x is string => typeof x === 'string') : undefined;
    out.push({
      destination,
      ...(str(o.type) && { type: str(o.type) }),
      ...(str(o.source) && { source: str(o.source) }),
      ...(options && options.length > 0 && { options }),
    });
  }
  return out;
}

function stringMap(o: Json): Record<string, string> | undefined {
  const entries = Object.entries(o).filter((e): e is [string, string] => typeof e[1] === 'string');
  return entries.length > 0 ? Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : undefined;
}

export function containerFacts(files: MetadataFiles): ContainerMetadata {
  const warnings: AnalysisWarning[] = [];
  const config = parseObject('config.dump', files.config, warnings) ?? {};
  const spec = parseObject('spec.dump', files.spec, warnings) ?? {};
  const status = parseObject('status.dump', files.status, warnings) ?? {};
  const ann = obj(spec.annotations) ?? {};
  const a = (k: string) => str(ann[k]);
  const labels = obj(status.labels) ?? {};
  let crioMetaName: string | undefined;
  const crioMeta = a('io.kubernetes.cri-o.Metadata');
  if (crioMeta) {
    try {
      crioMetaName = str(obj(JSON.parse(crioMeta))?.name);
    } catch {
      /* an annotation we only fall back on */
    }
  }
  const engine = detectEngine(files.entryNames, ann, config);
  const net = networkFacts(ann, files.networkStatus, warnings);
  const crioCreated = goTime(a('io.kubernetes.cri-o.Created'));

  const facts: ContainerFacts = {
    engine,
    name:
      a('io.kubernetes.container.name') ??
      a('io.kubernetes.cri.container-name') ??
      crioMetaName ??
      str(obj(status.metadata)?.name) ??
      str(labels['io.kubernetes.container.name']) ??
      (engine === 'podman' || engine === undefined ? str(config.name) : undefined),
    id: str(config.id) ?? str(status.id) ?? a('io.kubernetes.cri-o.ContainerID'),
    image:
      str(config.rootfsImageName) ??
      str(config.rootfsImage) ??
      str(config.RawImageName) ??
      a('io.kubernetes.cri-o.ImageName') ??
      a('io.kubernetes.cri.image-name') ??
      str(obj(status.image)?.image),
    imageRef: str(config.rootfsImageRef) ?? str(config.rootfsImageID) ?? str(status.image_ref) ?? a('io.kubernetes.cri-o.ImageRef'),
    pod: a('io.kubernetes.pod.name') ?? a('io.kubernetes.cri.sandbox-name') ?? str(labels['io.kubernetes.pod.name']),
    namespace: a('io.kubernetes.pod.namespace') ?? a('io.kubernetes.cri.sandbox-namespace') ?? str(labels['io.kubernetes.pod.namespace']),
    // CRI-O's annotation and its config.dump disagree by some milliseconds; checkpointctl shows the annotation
    createdAt: goTime(config.createdTime) ?? crioCreated ?? nsTime(status.created_at),
    checkpointedAt: goTime(config.checkpointedTime),
    ociRuntime: str(config.runtime) ?? str(config.ociRuntime),
    criuVersion: criuVersion(files.dumpLogHead),
    ...net,
    annotations: stringMap(ann),
  };
  for (const k of Object.keys(facts) as (keyof ContainerFacts)[]) if (facts[k] === undefined) delete facts[k];
  return { facts, mounts: mountsOf(spec, warnings), warnings };
}

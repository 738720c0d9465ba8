import { canonicalJson, sha256Hex } from '../core/canonical-json.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const LAYER_MEDIA_TYPES = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** An OCI content descriptor. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** What a checkpoint image is made of: facts of the archive, the checkpointed container, and the capture. */
export interface CheckpointImageInput {
  readonly archive: {
    readonly sha256: string;
    readonly size: number;
    readonly compression: keyof typeof LAYER_MEDIA_TYPES;
    /** sha256 of the uncompressed tar, for a compressed archive (the config's diff_id); the archive's own hash otherwise. */
    readonly diffId?: string | undefined;
  };
  /** The checkpointed container's name: the runtime restores the image into the container of that name. */
  readonly container: string;
  readonly pod?: { readonly name?: string | undefined; readonly namespace?: string | undefined; readonly uid?: string | undefined };
  readonly engine?: string | undefined;
  readonly criuVersion?: string | undefined;
  readonly rootfsImage?: { readonly name?: string | undefined; readonly id?: string | undefined };
  /** OCI architecture (amd64, arm64…) */
  readonly architecture: string;
  readonly capture?: { readonly id: string; readonly bundleUri: string; readonly manifestSha256: string };
  /** RFC 3339; part of the config, so part of the digest: the same input makes the same image. */
  readonly created: string;
}

/** A checkpoint image: its config and manifest bytes, their descriptors, and the one layer (the archive). */
export interface CheckpointImage {
  readonly config: { readonly bytes: Buffer; readonly descriptor: Descriptor };
  readonly manifest: { readonly bytes: Buffer; readonly descriptor: Descriptor };
  readonly layer: Descriptor;
  readonly annotations: Readonly<Record<string, string>>;
}

/** The prefix of amber's own annotations. */
export const AMBER_ANNOTATION = 'forensics.amber.dev';

/**
 * The annotations that make an image a checkpoint image. CRI-O restores a container whose image
 * carries `io.kubernetes.cri-o.annotations.checkpoint.name`; containerd 2.x reads
 * `org.criu.checkpoint.container.name` (on the index entry too); the other `org.criu.checkpoint.*`
 * keys are the ones checkpointctl's `build` writes; ours name the capture, the bundle and the hashes.
 */
export function checkpointAnnotations(input: CheckpointImageInput): Record<string, string> {
  const a: Record<string, string | undefined> = {
    'io.kubernetes.cri-o.annotations.checkpoint.name': input.container,
    'org.criu.checkpoint.container.name': input.container,
    'org.criu.checkpoint.engine.name': input.engine,
    'org.criu.checkpoint.pod.name': input.pod?.name,
    'org.criu.checkpoint.pod.namespace': input.pod?.namespace,
    'org.criu.checkpoint.pod.uid': input.pod?.uid,
    'org.criu.checkpoint.rootfsImageName': input.rootfsImage?.name,
    'org.criu.checkpoint.rootfsImageID': input.rootfsImage?.id,
    'org.criu.checkpoint.criu.version': input.criuVersion,
    'org.criu.checkpoint.host.arch': input.architecture,
    [`${AMBER_ANNOTATION}/archive-sha256`]: input.archive.sha256,
    [`${AMBER_ANNOTATION}/capture-id`]: input.capture?.id,
    [`${AMBER_ANNOTATION}/bundle`]: input.capture?.bundleUri,
    [`${AMBER_ANNOTATION}/manifest-sha256`]: input.capture?.manifestSha256,
    'org.opencontainers.image.created': input.created,
  };
  return Object.fromEntries(Object.entries(a).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}

/**
 * Describes the checkpoint image of an archive without reading it: FROM scratch, one layer that IS
 * the archive, byte for byte — stored as it is (uncompressed for the kubelet's archives), so the
 * layer's digest is the archive's SHA-256, the hash the sealed manifest carries, and the image
 * proves what it restores. Deterministic: the same input gives the same manifest digest.
 */
export function checkpointImage(input: CheckpointImageInput): CheckpointImage {
  const layer: Descriptor = { mediaType: LAYER_MEDIA_TYPES[input.archive.compression], digest: `sha256:${input.archive.sha256}`, size: input.archive.size };
  const diffId = input.archive.compression === 'none' ? input.archive.sha256 : input.archive.diffId;
  if (diffId === undefined) throw new Error(`a ${input.archive.compression} archive needs the sha256 of the tar inside (diffId)`);
  const annotations = checkpointAnnotations(input);
  const config = {
    created: input.created,
    architecture: input.architecture,
    os: 'linux',
    config: input.capture ? { Labels: { [`${AMBER_ANNOTATION}/capture-id`]: input.capture.id } } : {},
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
    history: [
      { created: input.created, created_by: 'amber restore: the checkpoint archive, byte for byte', comment: `archive sha256 ${input.archive.sha256}` },
    ],
  };
  // canonical JSON: the bytes, and so the digests, depend only on the input
  const configBytes = Buffer.from(canonicalJson(config));
  const configDescriptor: Descriptor = { mediaType: OCI_CONFIG, digest: `sha256:${sha256Hex(configBytes)}`, size: configBytes.length };
  const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDescriptor, layers: [layer], annotations };
  const manifestBytes = Buffer.from(canonicalJson(manifest));
  return {
    config: { bytes: configBytes, descriptor: configDescriptor },
    manifest: { bytes: manifestBytes, descriptor: { mediaType: OCI_MANIFEST, digest: `sha256:${sha256Hex(manifestBytes)}`, size: manifestBytes.length } },
    layer,
    annotations,
  };
}

import type { Readable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { RestoreRecord } from '../../evidence/restore-record.js';
import type { Manifest } from '../../evidence/manifest.js';
import { checkpointImage, type CheckpointImage } from '../../restore/checkpoint-image.js';
import { writeOciLayout } from '../../restore/oci-layout.js';
import { parseImageRef, pushImage } from '../../restore/registry-client.js';
import { podmanRestore } from '../../restore/podman-restore.js';
import type { RestoreFacts, RestoreStep } from '../../restore/record-restore.js';
import type { RestoreArchive } from '../../restore/restore-source.js';
import { AmberError } from '../../core/amber-error.js';
import { sha256Hex } from '../../core/canonical-json.js';
import { createSandbox } from './create-sandbox.js';
import type { Io } from '../cli-support.js';
import type { ArchiveFacts } from './describe-archive.js';
import type { RestoreRequest } from './restore-flags.js';

/** What the restore made, for its record. */
export interface RestoreOutputs {
  readonly steps: RestoreStep[];
  /** The record's facts but who restored it (undefined for a dry run). */
  readonly facts?: Omit<RestoreFacts, 'restoredBy'>;
  /** After the record is written: what else learns of it (the Capture's status). */
  readonly recorded?: (record: RestoreRecord, uri: string) => Promise<void>;
}

export interface RestoreInput {
  readonly archive: RestoreArchive;
  readonly facts: ArchiveFacts;
  readonly sealed?: { readonly manifest: Manifest; readonly manifestBytes: Buffer; readonly uri: string; readonly names: readonly string[] } | undefined;
  /** `user@host`, for the sandbox's annotations */
  readonly restoredBy: string;
}

/** The checkpoint image of the archive, from what the bundle and the archive say. */
export function imageOf(request: RestoreRequest, input: RestoreInput): CheckpointImage {
  const { archive, facts, sealed } = input;
  const target = sealed?.manifest.target;
  const container = target?.containers.find((c) => c.name === archive.container);
  return checkpointImage({
    archive: { sha256: archive.sha256, size: archive.size, compression: facts.compression, diffId: facts.diffId },
    container: archive.container,
    pod: { name: target?.pod ?? facts.pod, namespace: target?.namespace ?? facts.namespace, uid: target?.podUID },
    engine: facts.engine,
    criuVersion: facts.criuVersion,
    rootfsImage: { name: container?.image ?? facts.rootfsImage, id: container?.imageID ?? facts.rootfsImageRef },
    architecture: request.arch ?? facts.arch ?? 'amd64',
    ...(sealed ? { capture: { id: sealed.manifest.captureId, bundleUri: sealed.uri, manifestSha256: sha256Hex(sealed.manifestBytes) } } : {}),
    // the capture's seal time: a second restore of the same capture builds the same image
    created: sealed?.manifest.times.sealed ?? new Date(0).toISOString(),
  });
}

/**
 * Writes what the analyst asked for, in order: the OCI layout, the registry push, the sandbox, the
 * local Podman restore. A failure stops there (nothing after it is attempted) and is the
 * command's failure: what was already written stays, and no record claims more than was done.
 */
export async function restoreOutputs(request: RestoreRequest, input: RestoreInput, io: Io): Promise<RestoreOutputs> {
  const steps: RestoreStep[] = [];
  const image = imageOf(request, input);
  const tag = request.tag ?? (input.sealed ? `restore-${input.sealed.manifest.captureId}` : 'restore');
  const open = (): Promise<Readable> => input.archive.open();
  if (request.dryRun && request.sandbox && request.image) {
    // nothing is written: the image's digest is known without pushing it
    const ref = parseImageRef(request.image.ref, tag);
    await createSandbox(request.sandbox, `${ref.registry}/${ref.repository}:${ref.tag}@${image.manifest.descriptor.digest}`, input, io, true);
    return { steps };
  }
  let ociLayout: string | undefined;
  if (request.ociLayout) {
    ociLayout = resolve(request.ociLayout.dir);
    await writeOciLayout(ociLayout, image, open, tag);
    io.out(`oci layout ${ociLayout}:${tag} (image ${image.manifest.descriptor.digest}, layer ${image.layer.digest})`);
    steps.push({
      action: 'restore.image-written',
      at: new Date().toISOString(),
      details: { ociLayout: `${ociLayout}:${tag}`, digest: image.manifest.descriptor.digest, layer: image.layer.digest },
    });
  }
  let reference: string | undefined;
  if (request.image) {
    const ref = parseImageRef(request.image.ref, tag);
    const password = request.image.passwordFile !== undefined ? (await readFile(request.image.passwordFile, 'utf8')).trim() : request.image.password;
    const pushed = await pushImage(ref, image, open, {
      insecure: request.image.insecure,
      ca: request.image.caFile !== undefined ? await readFile(request.image.caFile) : undefined,
      credentials: { user: request.image.user, password },
      onProgress: pushProgress(io),
    });
    reference = pushed.reference;
    io.out(`pushed ${pushed.reference} (layer ${image.layer.digest})`);
    steps.push({
      action: 'restore.image-written',
      at: new Date().toISOString(),
      details: { reference: pushed.reference, digest: pushed.digest, layer: image.layer.digest },
    });
  }
  let sandbox: RestoreFacts['sandbox'];
  let recorded: RestoreOutputs['recorded'];
  if (request.sandbox) {
    if (reference === undefined) throw new AmberError('RESTORE_REFUSED', { problem: 'a sandbox needs the image in a registry (--image)' });
    const made = await createSandbox(request.sandbox, reference, input, io, false);
    if (made === undefined) return { steps };
    sandbox = made.sandbox;
    recorded = made.recorded;
    steps.push({ action: 'restore.sandbox-created', at: new Date().toISOString(), details: { ...made.sandbox } });
  }
  let podman: RestoreFacts['podman'];
  if (request.podman) {
    const name = `amber-restore-${input.sealed?.manifest.captureId ?? 'unsealed'}-${Date.now().toString(36)}`;
    const restored = await podmanRestore(input.archive, { name, engine: input.facts.engine });
    io.out(`podman container ${restored.container} (${restored.id}), network: ${restored.network}`);
    podman = { container: restored.container, network: restored.network };
    steps.push({
      action: 'restore.podman-restored',
      at: new Date().toISOString(),
      details: { container: restored.container, id: restored.id, network: restored.network },
    });
  }
  return {
    steps,
    facts: {
      archive: { name: input.archive.name, container: input.archive.container, sha256: input.archive.sha256 },
      image: {
        digest: image.manifest.descriptor.digest,
        layerDigest: image.layer.digest,
        ...(ociLayout !== undefined ? { ociLayout: `${ociLayout}:${tag}` } : {}),
      },
      ...(sandbox ? { sandbox } : {}),
      ...(podman ? { podman } : {}),
    },
    ...(recorded ? { recorded } : {}),
  };
}

/** Progress of a push on stderr: every tenth, or one line when stderr is not a terminal. */
function pushProgress(io: Io): (sent: number, total: number) => void {
  let shown = -1;
  return (sent, total) => {
    const tenth = total === 0 ? 10 : Math.floor((sent * 10) / total);
    if (tenth === shown) return;
    shown = tenth;
    io.err(`pushing the archive: ${tenth * 10}% of ${(total / 2 ** 20).toFixed(1)} MiB`);
  };
}

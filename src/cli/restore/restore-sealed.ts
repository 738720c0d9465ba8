import { hostname } from 'node:os';
import { Compile } from 'typebox/compile';
import { AmberError } from '../../core/amber-error.js';
import { Manifest } from '../../evidence/manifest.js';
import type { RestoreRecord } from '../../evidence/restore-record.js';
import type { PublicKeySet, SigningKey } from '../../evidence/signing-key.js';
import { verifyBundle, type Check } from '../../evidence/verify-bundle.js';
import type { AgeIdentity } from '../../evidence/age/age-keys.js';
import { bundleRecordTarget, recordRestore, type RestoreStep } from '../../restore/record-restore.js';
import { sealedArchive } from '../../restore/restore-source.js';
import type { BundleTarget } from '../bundle-target.js';
import type { Io } from '../cli-support.js';
import { progressPrinter } from '../verify-command.js';
import { describeArchive } from './describe-archive.js';
import { restoreOutputs, type RestoreOutputs } from './restore-outputs.js';
import type { RestoreRequest } from './restore-flags.js';

const checkManifest = Compile(Manifest);

/** A restore of a sealed bundle: what to build, and who asks. */
export interface SealedRestore {
  readonly bundle: BundleTarget;
  readonly request: RestoreRequest;
  readonly jwks: PublicKeySet;
  readonly identities: readonly AgeIdentity[];
  /** The capture the bundle must be (its manifest's captureId); absent: whichever it is. */
  readonly captureId?: string | undefined;
  /** Which container's archive, when the capture holds several. */
  readonly container?: string | undefined;
  /** The key that signs the record: asked for only once there is something to record. */
  readonly signingKey: () => Promise<SigningKey>;
  /** Who restores, for the record (`host` defaults to this machine's name). */
  readonly by: { readonly user: string; readonly host?: string };
  /** Said in the custody entries beside who: `amber restore`, or the evidence browser. */
  readonly via?: string;
  /** The custody actor of the record's entries. */
  readonly component: string;
}

export type SealedRestoreResult =
  | { readonly refused: { readonly location: string; readonly failed: readonly Check[]; readonly total: number } }
  | {
      readonly restored: {
        readonly outputs: RestoreOutputs;
        /** Absent for a dry run. */
        readonly record?: { readonly record: RestoreRecord; readonly uri: string; readonly kid: string };
      };
    };

/**
 * The sealed path of `amber restore`, which the evidence browser's restore runs too: verify first
 * (a bundle that does not verify is refused, and nothing is built), then what `request` asks for
 * (restore-outputs.ts), then the signed restore record beside the bundle, continuing its custody.
 * Progress and results are told through `io` as the command prints them.
 */
export async function restoreSealed(job: SealedRestore, io: Io): Promise<SealedRestoreResult> {
  const { bundle, request } = job;
  const started = new Date().toISOString();
  const report = await verifyBundle(bundle.source, { jwks: job.jwks, identities: job.identities, onProgress: progressPrinter(io) });
  const failed = report.checks.filter((c) => !c.ok);
  if (!report.valid || report.manifest === undefined || failed.length > 0) {
    return { refused: { location: bundle.source.location, failed, total: report.checks.length } };
  }
  const manifestBytes = await readAll(await bundle.source.open('manifest.json'));
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as unknown;
  // the bytes just read are the ones verified a moment ago, unless the bundle changes under us
  if (!checkManifest.Check(manifest) || manifest.captureId !== report.manifest.captureId) {
    throw new AmberError('RESTORE_REFUSED', { target: bundle.source.location, problem: 'manifest.json changed while it was being verified' });
  }
  if (job.captureId !== undefined && manifest.captureId !== job.captureId) {
    throw new AmberError('RESTORE_REFUSED', {
      target: bundle.source.location,
      problem: `the bundle is capture ${manifest.captureId}'s, not ${job.captureId}'s`,
    });
  }
  const archive = sealedArchive(bundle.source, manifest, job.container, job.identities);
  io.err(`verified ${bundle.source.location}: all ${report.checks.length} checks passed`);
  const facts = await describeArchive(() => archive.open());

  const by = { user: job.by.user, host: job.by.host ?? hostname() };
  const steps: RestoreStep[] = [
    {
      action: 'restore.verified',
      at: started,
      details: { bundle: bundle.source.location, checks: report.checks.length, archive: archive.name, by, ...(job.via ? { via: job.via } : {}) },
    },
  ];
  const sealed = { manifest, manifestBytes, uri: bundle.source.location, names: await bundle.source.list() };
  const outputs = await restoreOutputs(request, { archive, facts, sealed, restoredBy: `${by.user}@${by.host}` }, io);
  steps.push(...outputs.steps);
  if (request.dryRun || outputs.facts === undefined) return { restored: { outputs } };

  const signingKey = await job.signingKey();
  const { record, uri } = await recordRestore(
    bundleRecordTarget(bundle.source, bundle.store, (name) => bundle.key(name)),
    { manifest, manifestBytes },
    { ...outputs.facts, restoredBy: by },
    steps,
    { component: job.component },
    signingKey,
  );
  io.out(`restore record ${uri} (restore ${record.number}, signed by kid ${signingKey.kid})`);
  await outputs.recorded?.(record, uri);
  return { restored: { outputs, record: { record, uri, kid: signingKey.kid } } };
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

import { createReadStream } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../config/load-settings.js';
import { DEFAULT_SETTINGS } from '../config/settings.js';
import { AmberError, isAmberError } from '../core/amber-error.js';
import { Compile } from 'typebox/compile';
import { Manifest } from '../evidence/manifest.js';
import { loadOrCreateSigningKey, loadSigningKey, mergeJwks } from '../evidence/signing-key.js';
import { verifyBundle } from '../evidence/verify-bundle.js';
import { bundleRecordTarget, recordRestore, type RestoreStep } from '../restore/record-restore.js';
import { sealedArchive, unsealedArchive, type RestoreArchive } from '../restore/restore-source.js';
import { openBundleTarget } from './bundle-target.js';
import { EXIT, parseFlags, UsageError, type Io } from './cli-support.js';
import { readIdentities } from './encryption-setup.js';
import { describeArchive, type ArchiveFacts } from './restore/describe-archive.js';
import { restoreOutputs, type RestoreOutputs } from './restore/restore-outputs.js';
import { RESTORE_FLAGS, RESTORE_HELP, restoreRequest } from './restore/restore-flags.js';
import { loadJwks, progressPrinter, renderCheck } from './verify-command.js';

export { RESTORE_HELP };

const checkManifest = Compile(Manifest);

/**
 * `amber restore`: verify first (a bundle that does not verify is refused before anything is
 * built), then the checkpoint image (an OCI layout, a registry push), then where it runs (a
 * sandbox pod, a local Podman), and last the signed restore record beside the bundle, which
 * continues its custody. Exit 0 restored or written, 1 refused, 2 could not run.
 */
export async function restoreCommand(args: readonly string[], io: Io): Promise<number> {
  try {
    return await restore(args, io);
  } catch (e) {
    // a refusal is the answer "no" (exit 1), whichever step found it; anything else could not run (2)
    if (isAmberError(e, 'RESTORE_REFUSED') || isAmberError(e, 'RESTORE_ARCHIVE_MISMATCH')) {
      io.err(`REFUSED: ${e.message}`);
      return EXIT.NO;
    }
    throw e;
  }
}

async function restore(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(args, RESTORE_FLAGS);
  if (values.help) {
    io.out(RESTORE_HELP);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'restore needs a TARGET' : 'restore takes one TARGET');
  const target = positionals[0] as string;
  const request = restoreRequest(values, io.env);
  const identities = values.identity === undefined ? [] : await readIdentities(values.identity);
  const dataDir = values['data-dir'] ?? io.env['AMBER_DATA_DIR'] ?? './.amber';
  const started = new Date().toISOString();

  let archive: RestoreArchive;
  let facts: ArchiveFacts;
  let sealed: { bundle: Awaited<ReturnType<typeof openBundleTarget>>; manifest: Manifest; manifestBytes: Buffer; checks: number } | undefined;
  if (values.unsealed) {
    facts = await describeArchive(async () => createReadStream(target, { highWaterMark: 1 << 20 }));
    const container = values.container ?? facts.container;
    if (container === undefined) throw new UsageError('the archive does not name its container: pass --container NAME');
    archive = await unsealedArchive(target, container);
    io.err(`amber restore: ${target} is not sealed: its sha256 ${archive.sha256} is vouched for by nobody, and no restore record is written`);
  } else {
    const settings = target.startsWith('s3://') ? await loadSettings({ flags: {}, env: io.env, configFile: values.config }) : undefined;
    const bundle = await openBundleTarget(target, (settings ?? { s3: DEFAULT_SETTINGS.s3 }).s3);
    const jwksFrom = values.jwks ?? [join(dataDir, 'signing', 'jwks.json')];
    const jwks = mergeJwks(...(await Promise.all(jwksFrom.map(async (f) => (await loadJwks(f, values.jwks === undefined)).keys))));
    const report = await verifyBundle(bundle.source, { jwks, identities, onProgress: progressPrinter(io) });
    const failed = report.checks.filter((c) => !c.ok);
    if (!report.valid || report.manifest === undefined || failed.length > 0) {
      for (const c of failed) io.err(renderCheck(c));
      io.err(`REFUSED: ${bundle.source.location} does not verify (${failed.length} of ${report.checks.length} checks failed); nothing was built`);
      return EXIT.NO;
    }
    const manifestBytes = await readAll(await bundle.source.open('manifest.json'));
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as unknown;
    // the bytes just read are the ones verified a moment ago, unless the bundle changes under us
    if (!checkManifest.Check(manifest) || manifest.captureId !== report.manifest.captureId) {
      throw new AmberError('RESTORE_REFUSED', { target, problem: 'manifest.json changed while it was being verified' });
    }
    archive = sealedArchive(bundle.source, manifest, values.container, identities);
    sealed = { bundle, manifest, manifestBytes, checks: report.checks.length };
    io.err(`verified ${bundle.source.location}: all ${report.checks.length} checks passed`);
    facts = await describeArchive(() => archive.open());
  }

  const signingKey = sealed
    ? values['signing-key'] !== undefined
      ? await loadSigningKey(values['signing-key'])
      : (await loadOrCreateSigningKey(join(dataDir, 'signing'))).key
    : undefined;
  const steps: RestoreStep[] = [];
  const by = { user: values['restored-by'] ?? osUser(), host: hostname() };
  if (sealed)
    steps.push({
      action: 'restore.verified',
      at: started,
      details: { bundle: sealed.bundle.source.location, checks: sealed.checks, archive: archive.name, by },
    });

  const bundle = sealed && {
    manifest: sealed.manifest,
    manifestBytes: sealed.manifestBytes,
    uri: sealed.bundle.source.location,
    names: await sealed.bundle.source.list(),
  };
  const outputs: RestoreOutputs = await restoreOutputs(request, { archive, facts, sealed: bundle, restoredBy: `${by.user}@${by.host}` }, io);
  steps.push(...outputs.steps);
  if (request.dryRun) return EXIT.OK;

  if (sealed && signingKey && outputs.facts) {
    const { record, uri } = await recordRestore(
      bundleRecordTarget(sealed.bundle.source, sealed.bundle.store, (name) => sealed.bundle.key(name)),
      sealed,
      { ...outputs.facts, restoredBy: by },
      steps,
      { component: 'amber restore' },
      signingKey,
    );
    io.out(`restore record ${uri} (restore ${record.number}, signed by kid ${signingKey.kid})`);
    await outputs.recorded?.(record, uri);
  }
  return EXIT.OK;
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

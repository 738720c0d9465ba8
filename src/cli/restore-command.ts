import { createReadStream } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../config/load-settings.js';
import { DEFAULT_SETTINGS } from '../config/settings.js';
import { isAmberError } from '../core/amber-error.js';
import { loadOrCreateSigningKey, loadSigningKey, mergeJwks } from '../evidence/signing-key.js';
import { unsealedArchive } from '../restore/restore-source.js';
import { openBundleTarget } from './bundle-target.js';
import { EXIT, parseFlags, UsageError, type Io } from './cli-support.js';
import { readIdentities } from './encryption-setup.js';
import { describeArchive } from './restore/describe-archive.js';
import { restoreOutputs } from './restore/restore-outputs.js';
import { RESTORE_FLAGS, RESTORE_HELP, restoreRequest } from './restore/restore-flags.js';
import { restoreSealed } from './restore/restore-sealed.js';
import { loadJwks, renderCheck } from './verify-command.js';

export { RESTORE_HELP };

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
  if (values.unsealed) {
    const facts = await describeArchive(async () => createReadStream(target, { highWaterMark: 1 << 20 }));
    const container = values.container ?? facts.container;
    if (container === undefined) throw new UsageError('the archive does not name its container: pass --container NAME');
    const archive = await unsealedArchive(target, container);
    io.err(`amber restore: ${target} is not sealed: its sha256 ${archive.sha256} is vouched for by nobody, and no restore record is written`);
    await restoreOutputs(request, { archive, facts, restoredBy: `${values['restored-by'] ?? osUser()}@${hostname()}` }, io);
    return EXIT.OK;
  }

  const settings = target.startsWith('s3://') ? await loadSettings({ flags: {}, env: io.env, configFile: values.config }) : undefined;
  const bundle = await openBundleTarget(target, (settings ?? { s3: DEFAULT_SETTINGS.s3 }).s3);
  const jwksFrom = values.jwks ?? [join(dataDir, 'signing', 'jwks.json')];
  const jwks = mergeJwks(...(await Promise.all(jwksFrom.map(async (f) => (await loadJwks(f, values.jwks === undefined)).keys))));
  const signingKeyFile = values['signing-key'];
  const result = await restoreSealed(
    {
      bundle,
      request,
      jwks,
      identities,
      container: values.container,
      signingKey: async () =>
        signingKeyFile !== undefined ? await loadSigningKey(signingKeyFile) : (await loadOrCreateSigningKey(join(dataDir, 'signing'))).key,
      by: { user: values['restored-by'] ?? osUser() },
      component: 'amber restore',
    },
    io,
  );
  if ('refused' in result) {
    const { failed, total, location } = result.refused;
    for (const c of failed) io.err(renderCheck(c));
    io.err(`REFUSED: ${location} does not verify (${failed.length} of ${total} checks failed); nothing was built`);
    return EXIT.NO;
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

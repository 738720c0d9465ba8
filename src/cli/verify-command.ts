import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { loadSettings } from '../config/load-settings.js';
import { DEFAULT_SETTINGS } from '../config/settings.js';
import { AmberError } from '../core/amber-error.js';
import { readIdentities } from './encryption-setup.js';
import { mergeJwks } from '../evidence/signing-key.js';
import type { Check, VerifyProgress } from '../evidence/verify-bundle.js';
import { verifyStored } from '../review/verify-stored.js';
import { openBundleTarget } from './bundle-target.js';
import { EXIT, parseFlags, UsageError, type Io } from './cli-support.js';

export const VERIFY_HELP = `Usage:
  amber verify TARGET [--jwks FILE|URL] [--identity FILE] [--data-dir DIR] [--json]
      Checks an evidence bundle offline: the signature over manifest.json against the JWKS,
      every artifact's size and SHA-256, files the manifest does not list, the custody chain's
      links and head, and the manifest's internal consistency. Prints every check and names
      exactly the artifact or custody line that fails. For a bundle in S3 it also reports each
      object's Object Lock retention and checks it is what the manifest's policy promised.
      Exit 0 valid, 1 invalid, 2 could not run.

  TARGET           a bundle directory (…/<cluster>/<yyyy>/<mm>/<dd>/<capture-id>), its file:// URI,
                   or s3://bucket/prefix/…/<capture-id> (streamed; endpoint and credentials as for
                   serve: AMBER_S3_ENDPOINT, AMBER_S3_FORCE_PATH_STYLE, the AWS SDK's chain, --config)
  --config FILE    settings YAML (for the S3 settings)
  --jwks FILE|URL  the public keys to verify with: a JWKS file, or an http(s) URL such as
                   https://amber.example/.well-known/jwks.json (default <data-dir>/signing/jwks.json);
                   repeatable: add the keys of the analysts who signed restore records
  --identity FILE  an age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it): encrypted
                   artifacts (<name>.age) are then decrypted, streamed, and their plaintext size
                   and SHA-256 checked too. Without it their stored bytes, the signature and the
                   custody are still checked — no key needed for that.
  --data-dir DIR   where the default JWKS lives (AMBER_DATA_DIR, default ./.amber)
  --json           print the report as JSON
`;

const FLAGS = {
  jwks: { type: 'string', multiple: true },
  identity: { type: 'string' },
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Artifacts above this size get a progress line on stderr. */
const PROGRESS_ABOVE = 64 * 1024 * 1024;

export async function verifyCommand(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help) {
    io.out(VERIFY_HELP);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'verify needs a TARGET' : 'verify takes one TARGET');
  const target = positionals[0] as string;
  const settings = target.startsWith('s3://') ? await loadSettings({ flags: {}, env: io.env, configFile: values.config }) : undefined;
  const bundle = await openBundleTarget(target, (settings ?? { s3: DEFAULT_SETTINGS.s3 }).s3);
  const jwksFrom = values.jwks ?? [join(values['data-dir'] ?? io.env['AMBER_DATA_DIR'] ?? './.amber', 'signing', 'jwks.json')];
  // several sets: the cluster's, and the key of each analyst who restored the capture (restore records)
  const jwks = mergeJwks(...(await Promise.all(jwksFrom.map(async (f) => (await loadJwks(f, values.jwks === undefined)).keys))));

  const { source } = bundle;
  const identities = values.identity === undefined ? [] : await readIdentities(values.identity);
  const result = await verifyStored(source, { jwks, identities, locks: bundle.locks, onProgress: progressPrinter(io) });
  const { checks, valid } = result;
  if (values.json) {
    io.out(
      JSON.stringify(
        {
          valid,
          target: source.location,
          jwks: jwksFrom.length === 1 ? jwksFrom[0] : jwksFrom,
          checks,
          manifest: result.manifest,
          ...(result.objects ? { objects: result.objects } : {}),
        },
        null,
        2,
      ),
    );
  } else {
    io.out(`bundle ${source.location}\njwks   ${jwksFrom.join(', ')}`);
    for (const c of checks) io.out(renderCheck(c));
    if (result.objects && !checks.some((c) => c.check === 'retention')) {
      // nothing promised: still say what the store holds
      for (const o of result.objects)
        io.out(`info lock ${o.name}: ${o.mode ?? 'no retention'}${o.retainUntil ? ` until ${o.retainUntil}` : ''}${o.legalHold ? ', legal hold' : ''}`);
    }
    const sealedEncrypted = result.encryptedUnchecked;
    if (sealedEncrypted > 0)
      io.out(`info ${sealedEncrypted} artifacts are encrypted (age): their stored bytes are checked; pass --identity to check what is inside`);
    const failed = checks.filter((c) => !c.ok).length;
    io.out(valid ? `VALID: all ${checks.length} checks passed` : `INVALID: ${failed} of ${checks.length} checks failed`);
  }
  return valid ? EXIT.OK : EXIT.NO;
}

/** `ok   signature (kid …)` / `FAIL artifact checkpoint-app.tar: sha256 differs …` */
export function renderCheck(c: Check): string {
  const what = [c.check, c.artifact, c.line === undefined ? undefined : `line ${c.line}`].filter((s) => s !== undefined).join(' ');
  if (c.ok) return `ok   ${what}${c.detail === undefined ? '' : ` (${c.detail})`}`;
  return `FAIL ${what}${c.detail === undefined ? '' : `: ${c.detail}`}`;
}

/** A JWKS from a file or an http(s) URL; JWKS_UNREADABLE naming what is wrong (and, for the default location, how to point elsewhere). */
export async function loadJwks(from: string, isDefault: boolean): Promise<JSONWebKeySet> {
  const fail = (problem: string, cause?: unknown): never => {
    const hint = isDefault ? '; pass --jwks FILE|URL, or --data-dir for the data dir that holds signing/jwks.json' : '';
    throw new AmberError('JWKS_UNREADABLE', { jwks: from, problem: problem + hint }, cause === undefined ? undefined : { cause });
  };
  let text = '';
  if (/^https?:\/\//i.test(from)) {
    try {
      const res = await fetch(from, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(15_000) });
      if (!res.ok) fail(`the server answered HTTP ${res.status}`);
      text = await res.text();
    } catch (e) {
      if (e instanceof AmberError) throw e;
      fail(`cannot fetch it: ${(e as Error).message}`, e);
    }
  } else {
    try {
      text = await readFile(from, 'utf8');
    } catch (e) {
      fail((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot read the file', e);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail('not JSON');
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string')) {
    fail('not a JSON Web Key Set ({"keys": [{"kty": …}, …]})');
  }
  return value as JSONWebKeySet;
}

/** Progress lines on stderr for artifacts above 64 MiB, every tenth. */
export function progressPrinter(io: Io): (p: VerifyProgress) => void {
  const shown = new Map<string, number>();
  return ({ name, done, total }) => {
    if (total <= PROGRESS_ABOVE) return;
    const tenth = Math.floor((done * 10) / total);
    if ((shown.get(name) ?? -1) >= tenth) return;
    shown.set(name, tenth);
    io.err(`hashing ${name}: ${tenth * 10}% of ${(total / 2 ** 20).toFixed(1)} MiB`);
  };
}

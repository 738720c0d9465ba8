import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JSONWebKeySet } from 'jose';
import { AmberError } from '../core/amber-error.js';
import { directorySource, verifyBundle, type Check, type VerifyProgress } from '../evidence/verify-bundle.js';
import { EXIT, parseFlags, UsageError, type Io } from './cli-support.js';

export const VERIFY_HELP = `Usage:
  amber verify TARGET [--jwks FILE|URL] [--data-dir DIR] [--json]
      Checks an evidence bundle offline: the signature over manifest.json against the JWKS,
      every artifact's size and SHA-256, files the manifest does not list, the custody chain's
      links and head, and the manifest's internal consistency. Prints every check and names
      exactly the artifact or custody line that fails.
      Exit 0 valid, 1 invalid, 2 could not run.

  TARGET           a bundle directory (…/<cluster>/<yyyy>/<mm>/<dd>/<capture-id>) or its file:// URI
  --jwks FILE|URL  the public keys to verify with: a JWKS file, or an http(s) URL such as
                   https://amber.example/.well-known/jwks.json
                   (default <data-dir>/signing/jwks.json)
  --data-dir DIR   where the default JWKS lives (AMBER_DATA_DIR, default ./.amber)
  --json           print the report as JSON
`;

const FLAGS = {
  jwks: { type: 'string' },
  'data-dir': { type: 'string' },
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
  if (target.startsWith('s3://')) {
    io.err(`amber verify: S3 verification arrives with the S3 store; for now, copy the bundle to a directory and verify that`);
    return EXIT.CANNOT_RUN;
  }
  const dir = await bundleDir(target);
  const jwksFrom = values.jwks ?? join(values['data-dir'] ?? io.env['AMBER_DATA_DIR'] ?? './.amber', 'signing', 'jwks.json');
  const jwks = await loadJwks(jwksFrom, values.jwks === undefined);

  const source = directorySource(dir);
  const report = await verifyBundle(source, { jwks, onProgress: progressPrinter(io) });
  if (values.json) {
    io.out(JSON.stringify({ valid: report.valid, target: source.location, jwks: jwksFrom, checks: report.checks, manifest: report.manifest }, null, 2));
  } else {
    io.out(`bundle ${source.location}\njwks   ${jwksFrom}`);
    for (const c of report.checks) io.out(renderCheck(c));
    const failed = report.checks.filter((c) => !c.ok).length;
    io.out(report.valid ? `VALID: all ${report.checks.length} checks passed` : `INVALID: ${failed} of ${report.checks.length} checks failed`);
  }
  return report.valid ? EXIT.OK : EXIT.NO;
}

/** `ok   signature (kid …)` / `FAIL artifact checkpoint-app.tar: sha256 differs …` */
export function renderCheck(c: Check): string {
  const what = [c.check, c.artifact, c.line === undefined ? undefined : `line ${c.line}`].filter((s) => s !== undefined).join(' ');
  if (c.ok) return `ok   ${what}${c.detail === undefined ? '' : ` (${c.detail})`}`;
  return `FAIL ${what}${c.detail === undefined ? '' : `: ${c.detail}`}`;
}

async function bundleDir(target: string): Promise<string> {
  const dir = target.startsWith('file://') ? fileURLToPath(target) : resolve(target);
  const s = await stat(dir).catch(() => undefined);
  if (!s?.isDirectory()) throw new AmberError('BUNDLE_NOT_FOUND', { target, problem: s ? 'not a directory' : 'does not exist' });
  return dir;
}

async function loadJwks(from: string, isDefault: boolean): Promise<JSONWebKeySet> {
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

function progressPrinter(io: Io): (p: VerifyProgress) => void {
  const shown = new Map<string, number>();
  return ({ name, done, total }) => {
    if (total <= PROGRESS_ABOVE) return;
    const tenth = Math.floor((done * 10) / total);
    if ((shown.get(name) ?? -1) >= tenth) return;
    shown.set(name, tenth);
    io.err(`hashing ${name}: ${tenth * 10}% of ${(total / 2 ** 20).toFixed(1)} MiB`);
  };
}

import { rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AmberError } from '../core/amber-error.js';
import { loadPublicJwks, loadSigningKey, mergeJwks } from '../evidence/signing-key.js';
import { EXIT, parseFlags, type Io } from './cli-support.js';

export const JWKS_HELP = `Usage: amber jwks [--signing-key FILE | --data-dir DIR] [--jwks-file FILE] [--out FILE]

Prints the public half of the manifest signing key as a JWKS — what verify --jwks takes and what
/.well-known/jwks.json serves. The private key never leaves the file it is in; this is how a
responder (which holds no private key) or an analyst's laptop gets the public one.

  --signing-key FILE   the private key (JWK or PKCS#8 PEM)   AMBER_SIGNING_KEY
                       (default: <data-dir>/signing/signing-key.pem, never generated here)
  --data-dir DIR       AMBER_DATA_DIR (./.amber)
  --jwks-file FILE     public keys to add (earlier keys after a rotation)   AMBER_JWKS_FILE
  --out FILE           write the JWKS there (replaced atomically) instead of printing it
Exit 0 printed, 2 no readable key.
`;

const FLAGS = {
  'signing-key': { type: 'string' },
  'data-dir': { type: 'string' },
  'jwks-file': { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function jwksCommand(args: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    io.out(JWKS_HELP);
    return EXIT.OK;
  }
  const keyFile =
    values['signing-key'] ?? io.env['AMBER_SIGNING_KEY'] ?? join(values['data-dir'] ?? io.env['AMBER_DATA_DIR'] ?? './.amber', 'signing', 'signing-key.pem');
  const key = await loadSigningKey(keyFile).catch((cause: unknown) => {
    throw new AmberError('CONFIG_INVALID', { setting: 'signing key', file: keyFile, problem: 'no readable signing key there: pass --signing-key' }, { cause });
  });
  const extraFile = values['jwks-file'] ?? io.env['AMBER_JWKS_FILE'];
  const jwks = mergeJwks([key.publicJwk], extraFile === undefined ? [] : await loadPublicJwks(extraFile));
  const text = `${JSON.stringify(jwks, null, 2)}\n`;
  if (values.out === undefined) {
    io.out(text);
  } else {
    const out = resolve(values.out);
    const tmp = `${out}.${process.pid}.tmp`;
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, out);
    io.err(`wrote ${jwks.keys.length} public key(s) to ${out} (kid ${key.kid})`);
  }
  return EXIT.OK;
}

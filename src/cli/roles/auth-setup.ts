import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Settings } from '../../config/settings.js';
import { AmberError } from '../../core/amber-error.js';
import { noAuthenticator, parseTokens, tokenAuthenticator, type Authenticator } from '../../http/token-auth.js';

/**
 * Bearer tokens from `auth.tokensFile`; without one, a token generated once into
 * `<data-dir>/auth-token` (0600). Its path is logged, never its value.
 */
export async function setUpAuth(settings: Settings, log: Logger): Promise<Authenticator> {
  const acceptClientCerts = settings.tls.clientCA !== undefined;
  if (settings.auth.insecureNoAuth) {
    log.warn('authentication is OFF (--insecure-no-auth): anyone who reaches the port can queue captures');
    return noAuthenticator;
  }
  if (settings.auth.tokensFile !== undefined) {
    let text: string;
    try {
      text = await readFile(settings.auth.tokensFile, 'utf8');
    } catch (cause) {
      throw new AmberError('CONFIG_INVALID', { setting: 'auth.tokensFile', file: settings.auth.tokensFile, problem: 'cannot read the file' }, { cause });
    }
    const tokens = parseTokens(text);
    if (tokens.length === 0 && !acceptClientCerts) {
      throw new AmberError('CONFIG_INVALID', { setting: 'auth.tokensFile', file: settings.auth.tokensFile, problem: 'holds no token' });
    }
    log.info({ tokensFile: settings.auth.tokensFile, count: tokens.length, clientCerts: acceptClientCerts }, 'bearer tokens loaded');
    return tokenAuthenticator(tokens, { acceptClientCerts });
  }
  const file = join(settings.dataDir, 'auth-token');
  let token = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (token === '') {
    token = randomBytes(32).toString('base64url');
    await mkdir(settings.dataDir, { recursive: true, mode: 0o700 });
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    log.info({ file }, 'generated a bearer token for the intake; send it as "Authorization: Bearer <contents of the file>"');
  } else {
    log.info({ file }, 'using the bearer token in the data dir');
  }
  return tokenAuthenticator([token], { acceptClientCerts });
}

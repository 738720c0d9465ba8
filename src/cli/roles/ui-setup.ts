import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';
import type { Settings } from '../../config/settings.js';
import { AmberError } from '../../core/amber-error.js';
import type { ObjectReader } from '../../evidence/bundle-source.js';
import type { AppDeps } from '../../http/build-app.js';
import { addressList, SignInLimiter, UiSessions } from '../../http/ui/ui-session.js';
import { EvidenceDesk } from '../../review/evidence-desk.js';

/**
 * The built page: dist/ui, beside dist/cli (npm run build writes it). Run from the sources (the
 * tests run amber serve in process) this module is in src/cli/roles, and src/ui holds the page's
 * sources, not the page: the built one is still dist/ui.
 */
const ASSETS_DIR = fileURLToPath(new URL(/\/src\/cli\/roles\/ui-setup\.ts$/.test(import.meta.url) ? '../../../dist/ui/' : '../../ui/', import.meta.url));

/**
 * The evidence browser of `serve` and `responder`: its sessions (the key from
 * `ui.sessionKeyFile`, or a random one), the trusted proxy (checked here, at start), and the desk
 * that reads sealed bundles from `store` (undefined: the evidence routes are not served). Nothing
 * with `--ui false`. Throws CONFIG_INVALID on a short key or a bad proxy address list.
 */
export async function setUpUi(
  settings: Settings,
  log: Logger,
  evidence: { store: ObjectReader | undefined; jwks: JSONWebKeySet },
  assetsDir: string = ASSETS_DIR,
): Promise<Pick<AppDeps, 'ui' | 'desk'>> {
  const ui = settings.ui;
  const desk = evidence.store ? new EvidenceDesk({ store: evidence.store, jwks: evidence.jwks }) : undefined;
  if (!ui.enabled) return { desk };
  let key: Buffer;
  if (ui.sessionKeyFile === undefined) {
    key = randomBytes(32);
    log.info(
      'evidence browser sessions are signed with a key made at start: a restart signs everyone out, and replicas do not share sessions (set ui.sessionKeyFile)',
    );
  } else {
    try {
      key = await readFile(ui.sessionKeyFile);
    } catch (cause) {
      throw new AmberError(
        'CONFIG_INVALID',
        { setting: 'ui.sessionKeyFile', problem: `cannot read ${ui.sessionKeyFile}: ${(cause as Error).message}` },
        { cause },
      );
    }
    if (key.length < 32)
      throw new AmberError('CONFIG_INVALID', { setting: 'ui.sessionKeyFile', problem: `${key.length} bytes: it needs at least 32 (head -c 32 /dev/urandom)` });
  }
  if (ui.proxyUser) {
    try {
      addressList(ui.proxyUser.from);
    } catch (e) {
      throw new AmberError('CONFIG_INVALID', { setting: 'ui.proxyUser.from', problem: (e as Error).message });
    }
    log.warn(
      { header: ui.proxyUser.header, from: ui.proxyUser.from },
      'the evidence browser trusts a front proxy: any request from these addresses is signed in as the user its header names',
    );
  }
  const sessions = new UiSessions({ key, minutes: ui.sessionMinutes, secure: settings.tls.cert !== undefined, proxyUser: ui.proxyUser });
  log.info({ path: '/ui', evidence: desk ? 'from the store' : 'none (no store)', sessionMinutes: ui.sessionMinutes }, 'evidence browser on');
  return { ui: { sessions, limiter: new SignInLimiter(ui.signInPerMinute), assetsDir }, desk };
}

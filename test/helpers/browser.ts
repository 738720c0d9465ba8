import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's Chromium (`.ci/run` installs it). */
export const CHROMIUM = '/usr/bin/chromium';

/** The flags the issue names: headless, no sandbox (root in CI), nothing phoning home. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why the browser tests cannot run here (tap's `skip` option), or false; never skipped with AMBER_REQUIRE_BROWSER=1 (CI). */
export function chromiumMissing(): string | false {
  if (existsSync(CHROMIUM) || process.env['AMBER_REQUIRE_BROWSER'] === '1') return false;
  return `no Chromium at ${CHROMIUM} (apt-get install chromium): the browser tests need it`;
}

/** Headless Chromium with a fresh profile (its own --user-data-dir, removed at teardown), driven through playwright-core. */
export async function launchChromium(t: { teardown(fn: () => unknown): void }): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'amber-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  t.teardown(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  return context;
}

import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';

/**
 * The form controls and buttons of the page that a screen reader could not name: no <label>, no
 * aria-label, no text. Each as `tag#id` or its outer HTML's start.
 */
export async function controlsWithoutNames(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    // runs in the page: the DOM's types are not in the tests' (Node) type library
    const doc = (globalThis as any).document;
    const out: string[] = [];
    for (const el of Array.from(doc.querySelectorAll('input, select, textarea, button, a[href]')) as any[]) {
      const labelled =
        (el.labels?.length ?? 0) > 0 ||
        (el.getAttribute('aria-label') ?? '').trim() !== '' ||
        ((el.tagName === 'BUTTON' || el.tagName === 'A') && (el.textContent ?? '').trim() !== '');
      if (!labelled) out.push(el.id ? `${el.tagName.toLowerCase()}#${el.id}` : el.outerHTML.slice(0, 80));
    }
    return out;
  });
}

/**
 * Saves a screenshot under $AMBER_UI_SCREENSHOTS (npm run screenshots: docs/), else nothing: the
 * viewport, or `height` pixels of the page from the top of `from`.
 */
export async function screenshot(page: Page, name: string, from?: Locator, height = 900): Promise<void> {
  const dir = process.env['AMBER_UI_SCREENSHOTS'];
  if (dir === undefined || dir === '') return;
  const path = join(dir, name);
  if (!from) return void (await page.screenshot({ path }));
  await from.scrollIntoViewIfNeeded();
  const box = await from.boundingBox();
  const width = page.viewportSize()?.width ?? 1280;
  if (!box) throw new Error(`screenshot ${name}: the element is not on the page`);
  await page.screenshot({
    path,
    fullPage: true,
    clip: { x: 0, y: Math.max(0, box.y + (await page.evaluate(() => (globalThis as any).scrollY as number)) - 16), width, height },
  });
}

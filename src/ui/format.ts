/** Small text helpers of the page: nothing here builds HTML. */

export function age(iso: string, now: number = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export function time(iso: string | undefined): string {
  if (iso === undefined) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

/** The link of a capture's page: only ever a fragment of this page, whatever the id holds. */
export function captureHref(id: string): string {
  return `#/captures/${encodeURIComponent(id)}`;
}

/** `ok   signature (…)` / `FAIL artifact x: …`, exactly as `amber verify` prints a check. */
export function renderCheck(c: { check: string; ok: boolean; detail?: string; artifact?: string; line?: number }): string {
  const what = [c.check, c.artifact, c.line === undefined ? undefined : `line ${c.line}`].filter((s) => s !== undefined).join(' ');
  if (c.ok) return `ok   ${what}${c.detail === undefined ? '' : ` (${c.detail})`}`;
  return `FAIL ${what}${c.detail === undefined ? '' : `: ${c.detail}`}`;
}

/** A shell word: quoted when it holds anything a shell would read. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

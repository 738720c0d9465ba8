/**
 * Finding listed domains in memory: one read for all of them, whatever their number. The
 * search (MemorySearch, over the bytes read as latin1) looks for anything shaped like a host
 * name — labels of letters, digits, `-` and `_` joined by dots, starting where no such character
 * comes before — and keeps only the names one of whose label-aligned suffixes is listed (a set
 * lookup per suffix). No pattern is built from the list: a regular expression of every name takes
 * V8 seconds to compile for 100 000 names (and again for every archive); a set lookup costs the
 * same for ten names or a million.
 *
 * So a match may not follow a letter, digit, `-` or `_` (`example.com` is not in
 * `notexample.com`), may follow a `.` (a listed domain matches its subdomains: `cdn.example.com`),
 * and may not run on into another label (`example.com.evil.net`, `example.community`). Case is
 * ignored. Only single-byte text is found (ASCII, UTF-8): a name stored as UTF-16 is not.
 */
import type { MemoryPattern } from '../memory-search.js';

/**
 * A host-name-shaped run: labels of at most 63 characters, as DNS allows, at most 63 of them (so
 * a match is shorter than MAX_REGEX_MATCH and found whole across a window boundary; a longer
 * dotted run is matched on its last 63 labels, which hold any listed suffix), not followed by a
 * further label. A run whose last label is longer than 63 is no name. A new RegExp each time: the
 * search moves its lastIndex.
 */
export function hostNamePattern(): MemoryPattern {
  // a label character first, then the look back: most bytes of memory (zero pages, binary) fail
  // that first test at once, where a look-behind first is tried at every byte (several times slower)
  const re = /[A-Za-z0-9_-](?<![A-Za-z0-9_-][A-Za-z0-9_-])[A-Za-z0-9_-]{0,62}(?:\.[A-Za-z0-9_-]{1,63}){1,62}(?![A-Za-z0-9_-]|\.[A-Za-z0-9_-])/g;
  return { kind: 'regex', text: 'the listed domains', re };
}

/**
 * The listed domains that `name` (as found in memory, any case) is or is a subdomain of, longest
 * first; none when it is under no listed domain. A single label is never listed.
 */
export function listedSuffixes(name: string, listed: ReadonlySet<string> | ReadonlyMap<string, unknown>, first = false): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (let at = 0; lower.includes('.', at); at = lower.indexOf('.', at) + 1) {
    const suffix = at === 0 ? lower : lower.slice(at);
    if (listed.has(suffix)) {
      out.push(suffix);
      if (first) break;
    }
  }
  return out;
}

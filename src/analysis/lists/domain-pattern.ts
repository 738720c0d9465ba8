/**
 * Every listed domain as one regular expression, so that memory is read once for all of them
 * (MemorySearch, over the bytes read as latin1). The names are folded into a trie
 * (`pool.example` and `pool.evil` share `pool.e(?:xample|vil)`), so that each position of memory
 * is tried against a handful of characters, not against every name in turn.
 *
 * Boundaries: a match may not follow a letter, digit, `-` or `_` (`example.com` is not in
 * `notexample.com`), but may follow a `.`: a listed domain matches its subdomains. It may not
 * run on into another label (`example.com.evil.net`, `example.community`). Case is ignored.
 * Only single-byte text is found (ASCII, UTF-8): a name stored as UTF-16 is not.
 */
import type { MemoryPattern } from '../memory-search.js';

interface Node {
  end: boolean;
  next: Map<string, Node>;
}

const escape = (c: string) => (/[a-z0-9_-]/.test(c) ? c : `\\${c}`);

function emit(node: Node): string {
  const alts = [...node.next].map(([c, child]) => escape(c) + emit(child));
  if (alts.length === 0) return '';
  const body = alts.length === 1 ? (alts[0] as string) : `(?:${alts.join('|')})`;
  // a name that ends here, and longer ones through it: greedy, the longest is tried first
  return node.end ? `(?:${alts.length === 1 ? body : alts.join('|')})?` : body;
}

/** The pattern finding any of `domains` (lower-case, each at least one dot); undefined for none. */
export function domainPattern(domains: Iterable<string>): MemoryPattern | undefined {
  const root: Node = { end: false, next: new Map() };
  let any = false;
  for (const d of domains) {
    let node = root;
    for (const c of d) {
      let child = node.next.get(c);
      if (!child) node.next.set(c, (child = { end: false, next: new Map() }));
      node = child;
    }
    node.end = any = true;
  }
  if (!any) return undefined;
  const source = `(?<![A-Za-z0-9_-])${emit(root)}(?![A-Za-z0-9_-]|\\.[A-Za-z0-9_-])`;
  return { kind: 'regex', text: 'the listed domains', re: new RegExp(source, 'gi') };
}

/**
 * Label selectors as k8s.io/apimachinery/pkg/labels parses them: comma-separated requirements,
 * equality (`a=b`, `a==b`, `a!=b`), set-based (`a in (x,y)`, `a notin (x)`), existence (`a`,
 * `!a`) and `a>1` / `a<1`. `!=` and `notin` also match objects without the label.
 */
import { isQualifiedName, isValidLabelValue } from './object-meta.js';

type Op = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | '>' | '<';
export interface Requirement {
  key: string;
  op: Op;
  values: string[];
}
export type LabelSelector = Requirement[];

type Tok = { t: 'id' | 'sym' | 'end'; v: string };

function lex(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const two = s.slice(i, i + 2);
    if (two === '==' || two === '!=') {
      out.push({ t: 'sym', v: two });
      i += 2;
      continue;
    }
    if ('!=(),<>'.includes(c)) {
      out.push({ t: 'sym', v: c });
      i++;
      continue;
    }
    let j = i;
    while (j < s.length && !/[\s!=(),<>]/.test(s[j] ?? '')) j++;
    out.push({ t: 'id', v: s.slice(i, j) });
    i = j;
  }
  out.push({ t: 'end', v: '' });
  return out;
}

/** Parses a selector; a string is the parse error, worded as the apiserver answers it (400). */
export function parseLabelSelector(expr: string | null): LabelSelector | string {
  if (!expr || !expr.trim()) return [];
  const toks = lex(expr);
  let p = 0;
  const peek = () => toks[p] ?? { t: 'end', v: '' };
  const next = () => toks[p++] ?? { t: 'end', v: '' };
  const reqs: Requirement[] = [];
  const keyErr = (k: string) => isQualifiedName(k).map((m) => `key: Invalid value: "${k}": ${m}`)[0];
  const valErr = (k: string, v: string, i: number) => isValidLabelValue(v).map((m) => `values[${i}][${k}]: Invalid value: "${v}": ${m}`)[0];
  for (;;) {
    let tok = next();
    let negated = false;
    if (tok.t === 'sym' && tok.v === '!') {
      negated = true;
      tok = next();
    }
    if (tok.t !== 'id') return `found '${tok.v}', expected: ${negated ? "identifier after '!'" : 'identifier'}`;
    const key = tok.v;
    const bad = keyErr(key);
    if (bad) return `unable to parse requirement: ${bad}`;
    let req: Requirement;
    const after = peek();
    if (after.t === 'end' || (after.t === 'sym' && after.v === ',')) {
      req = { key, op: negated ? '!' : 'exists', values: [] };
    } else if (negated) {
      return `found '${after.v}', expected: ',' or 'end of string'`;
    } else {
      const opTok = next();
      const op =
        opTok.t === 'id' && (opTok.v === 'in' || opTok.v === 'notin')
          ? opTok.v
          : opTok.t === 'sym' && ['=', '==', '!=', '>', '<'].includes(opTok.v)
            ? ((opTok.v === '==' ? '=' : opTok.v) as Op)
            : undefined;
      if (!op) return `found '${opTok.v}', expected: in, notin, =, ==, !=, gt, lt`;
      const values: string[] = [];
      if (op === 'in' || op === 'notin') {
        const open = next();
        if (!(open.t === 'sym' && open.v === '(')) return `found '${open.v}', expected: '('`;
        for (;;) {
          const v = peek();
          if (v.t === 'id') {
            values.push(v.v);
            p++;
          } else if (!(v.t === 'sym' && (v.v === ',' || v.v === ')'))) return `found '${v.v}', expected: ',', ')' or identifier`;
          else values.push('');
          const sep = next();
          if (sep.t === 'sym' && sep.v === ')') break;
          if (!(sep.t === 'sym' && sep.v === ',')) return `found '${sep.v}', expected: ',' or ')'`;
        }
      } else {
        const v = peek();
        if (v.t === 'id') {
          values.push(v.v);
          p++;
        } else if (v.t === 'end' || (v.t === 'sym' && v.v === ',')) values.push('');
        else return `found '${v.v}', expected: identifier`;
        if ((op === '>' || op === '<') && !/^-?\d+$/.test(values[0] ?? ''))
          return `unable to parse requirement: values[0]: Invalid value: "${values[0]}": for 'Gt', 'Lt' operators, the value must be an integer`;
      }
      for (const [i, v] of values.entries()) {
        const e = op === '>' || op === '<' ? undefined : valErr(key, v, i);
        if (e) return `unable to parse requirement: ${e}`;
      }
      req = { key, op, values };
    }
    reqs.push(req);
    const sep = next();
    if (sep.t === 'end') return reqs;
    if (!(sep.t === 'sym' && sep.v === ',')) return `found '${sep.v}', expected: ',' or 'end of string'`;
  }
}

export function matchesLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return sel.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case '=':
      case 'in':
        return has && r.values.includes(v ?? '');
      case '!=':
      case 'notin':
        return !has || !r.values.includes(v ?? '');
      case '>':
      case '<': {
        if (!has || !/^-?\d+$/.test(v ?? '')) return false;
        const n = Number(v),
          bound = Number(r.values[0]);
        return r.op === '>' ? n > bound : n < bound;
      }
    }
  });
}

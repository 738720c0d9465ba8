import { AmberError } from '../core/amber-error.js';
import { ageRecipientProblem } from '../core/bech32.js';
import type { EvidenceSettings, IncludeItem } from '../core/capture.js';
import { parseDuration } from '../core/duration.js';
import { isValidName } from '../core/kube-names.js';
import { PRIORITIES, parsePriority, priorityRank, type FieldValue, type Signal, type Source } from '../core/signal.js';
import { POLICY_DEFAULTS, type CapturePolicy, type FieldCondition } from './capture-policy.js';

type Predicate = (signal: Signal) => boolean;

/** A validated policy with its matchers built once, at load time. */
export interface CompiledPolicy {
  readonly name: string;
  readonly description: string;
  readonly file: string;
  readonly disabled: boolean;
  readonly sources: ReadonlySet<Source>;
  /** All conditions, in the order they are written; a signal matches when every one holds. */
  readonly conditions: readonly { readonly what: string; readonly test: Predicate }[];
  /**
   * The rule names of `match.rules` when every one is an exact name (no `/regex/`): the intake
   * indexes policies by them (see PolicyIndex). Absent when a rule is a regex or the policy names
   * no rules, and on hand-built policies: such a policy is evaluated for every signal.
   */
  readonly exactRules?: readonly string[];
  /**
   * The `match.rules` condition on a rule name alone (the rules condition is exactly this applied
   * to the signal's rule). Absent when the policy names no rules, and on hand-built policies.
   */
  readonly matchesRule?: (rule: string) => boolean;
  readonly capture: {
    readonly containers: 'target' | 'all';
    readonly cooldownMs: number;
    readonly timeoutSeconds: number;
    readonly include: readonly IncludeItem[];
  };
  readonly evidence: EvidenceSettings;
  /** What the admission webhook does for this policy's captures. */
  readonly admission: { readonly holdUntilCheckpointedMs: number; readonly holdDeletes: boolean };
  /** `spec.notify`: the only notifications (by name) this policy's captures go to; absent: every one that takes them. */
  readonly notify?: readonly string[];
  /** `spec.match` as written, for people (the evidence browser shows why a capture was made); absent on hand-built policies. */
  readonly match?: CapturePolicy['spec']['match'];
}

export function compilePolicy(policy: CapturePolicy, file: string, defaultRecipients: readonly string[] = []): CompiledPolicy {
  const { match } = policy.spec;
  const at = (path: string) => ({ file, policy: policy.metadata.name, path });
  const conditions: { what: string; test: Predicate }[] = [];

  let exactRules: string[] | undefined;
  let matchesRule: ((rule: string) => boolean) | undefined;
  if (match.rules) {
    const rules = match.rules;
    const tests = rules.map((r, i) => ruleMatcher(r, at(`/spec/match/rules/${i}`)));
    const matches = (rule: string) => tests.some((t) => t(rule));
    matchesRule = matches;
    conditions.push({ what: 'rules', test: (s) => matches(s.rule) });
    if (!rules.some((r) => REGEX_RULE.test(r))) exactRules = [...rules];
  }
  if (match.priority !== undefined) {
    const test = priorityMatcher(match.priority, at('/spec/match/priority'));
    conditions.push({ what: 'priority', test: (s) => s.priority !== undefined && test(s.priority) });
  }
  if (match.tags?.any) {
    const any = match.tags.any;
    conditions.push({ what: 'tags.any', test: (s) => any.some((t) => s.tags.includes(t)) });
  }
  if (match.tags?.all) {
    const all = match.tags.all;
    conditions.push({ what: 'tags.all', test: (s) => all.every((t) => s.tags.includes(t)) });
  }
  if (match.namespaces?.include) {
    const inc = new Set(match.namespaces.include);
    conditions.push({ what: 'namespaces.include', test: (s) => s.target.namespace !== undefined && inc.has(s.target.namespace) });
  }
  if (match.namespaces?.exclude) {
    const exc = new Set(match.namespaces.exclude);
    conditions.push({ what: 'namespaces.exclude', test: (s) => s.target.namespace === undefined || !exc.has(s.target.namespace) });
  }
  for (const [i, cond] of (match.fields ?? []).entries()) {
    conditions.push({ what: `fields[${i}] ${cond.key} ${cond.op}`, test: fieldMatcher(cond, at(`/spec/match/fields/${i}`)) });
  }
  for (const [key, list] of Object.entries(match.namespaces ?? {})) {
    for (const [i, ns] of (list ?? []).entries()) {
      if (!isValidName('namespace', ns)) {
        throw new AmberError('POLICY_SCHEMA', { ...at(`/spec/match/namespaces/${key}/${i}`), problem: `'${ns}' is not a namespace name` });
      }
    }
  }

  const recipients = policy.spec.evidence?.encryption?.recipients ?? defaultRecipients;
  for (const [i, r] of (policy.spec.evidence?.encryption?.recipients ?? []).entries()) {
    const problem = ageRecipientProblem(r);
    if (problem !== undefined)
      throw new AmberError('POLICY_SCHEMA', {
        ...at(`/spec/evidence/encryption/recipients/${i}`),
        problem: `'${r}' is not an age recipient (age1…): ${problem}`,
      });
  }

  const cooldown = policy.spec.capture?.cooldown ?? POLICY_DEFAULTS.cooldown;
  const cooldownMs = parseDuration(cooldown);
  if (cooldownMs === undefined) {
    throw new AmberError('POLICY_BAD_DURATION', { ...at('/spec/capture/cooldown'), value: cooldown });
  }
  return {
    name: policy.metadata.name,
    description: policy.spec.description,
    file,
    disabled: policy.spec.disabled ?? false,
    sources: new Set(match.sources),
    conditions,
    match,
    ...(exactRules === undefined ? {} : { exactRules }),
    ...(matchesRule === undefined ? {} : { matchesRule }),
    capture: {
      containers: policy.spec.capture?.containers ?? POLICY_DEFAULTS.containers,
      cooldownMs,
      timeoutSeconds: policy.spec.capture?.timeoutSeconds ?? POLICY_DEFAULTS.timeoutSeconds,
      include: policy.spec.capture?.include ?? [...POLICY_DEFAULTS.include],
    },
    evidence: {
      retentionDays: policy.spec.evidence?.retentionDays ?? POLICY_DEFAULTS.retentionDays,
      lock: policy.spec.evidence?.lock ?? POLICY_DEFAULTS.lock,
      ...(policy.spec.evidence?.legalHold === true ? { legalHold: true } : {}),
      ...(recipients.length > 0 ? { encryption: { recipients: recipients.map((r) => r.toLowerCase()) } } : {}),
    },
    admission: {
      holdUntilCheckpointedMs: policy.spec.admission?.holdUntil === 'checkpointed' ? (policy.spec.admission.maxWaitSeconds ?? 10) * 1000 : 0,
      holdDeletes: policy.spec.admission?.holdDeletes === true,
    },
    ...(policy.spec.notify === undefined ? {} : { notify: policy.spec.notify }),
  };
}

type Where = Record<string, unknown>;

/** `/regex/flags` is a regular expression; anything else is an exact name. */
const REGEX_RULE = /^\/(.*)\/([a-z]*)$/s;

function toRegex(text: string, where: Where): RegExp | undefined {
  const m = REGEX_RULE.exec(text);
  if (!m) return undefined;
  if (!/^[imsu]*$/.test(m[2] ?? '')) {
    throw new AmberError('POLICY_BAD_REGEX', { value: text, ...where, problem: `flags '${m[2]}': only i, m, s, u make sense for matching` });
  }
  return compileRegex(m[1] ?? '', m[2] ?? '', { value: text, ...where });
}

function compileRegex(source: string, flags: string, where: Where): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (cause) {
    throw new AmberError('POLICY_BAD_REGEX', where, { cause });
  }
}

function ruleMatcher(rule: string, where: Where): (name: string) => boolean {
  const re = toRegex(rule, where);
  return re ? (name) => re.test(name) : (name) => name === rule;
}

const COMPARISONS = {
  '>=': (a: number, b: number) => a >= b,
  '<=': (a: number, b: number) => a <= b,
  '>': (a: number, b: number) => a > b,
  '<': (a: number, b: number) => a < b,
  '=': (a: number, b: number) => a === b,
} as const;

/** `>=Notice` means "Notice or more severe", in Falco's order. A bare name means `=`. */
function priorityMatcher(text: string, where: Where): (p: string) => boolean {
  const m = /^\s*(>=|<=|>|<|=)?\s*([A-Za-z]+)\s*$/.exec(text);
  const wanted = m?.[2] === undefined ? undefined : parsePriority(m[2]);
  if (!m || wanted === undefined) throw new AmberError('POLICY_BAD_PRIORITY', { ...where, value: text });
  const cmp = COMPARISONS[(m[1] ?? '=') as keyof typeof COMPARISONS];
  const rank = priorityRank(wanted);
  // Signals arrive with their priority already normalised (normaliseFalco, normaliseAlertmanager),
  // so the verdict for each of the eight canonical names is decided here, once; any other spelling
  // still goes through parsePriority.
  const verdict = new Map<string, boolean>(PRIORITIES.map((p) => [p, cmp(priorityRank(p), rank)]));
  return (p) => {
    const known = verdict.get(p);
    if (known !== undefined) return known;
    const got = parsePriority(p);
    return got !== undefined && cmp(priorityRank(got), rank);
  };
}

function fieldMatcher(cond: FieldCondition, where: Where): Predicate {
  const values = cond.values ?? [];
  if (cond.op !== 'exists' && values.length === 0) {
    throw new AmberError('POLICY_SCHEMA', { ...where, problem: `op '${cond.op}' needs a non-empty values list` });
  }
  const strings = values.map(String);
  const get = (s: Signal): FieldValue | undefined => s.fields[cond.key];
  const present = (v: FieldValue | undefined): v is string | number | boolean => v !== undefined && v !== null;
  switch (cond.op) {
    case 'in':
      return (s) => {
        const v = get(s);
        return present(v) && strings.includes(String(v));
      };
    case 'notIn':
      return (s) => {
        const v = get(s);
        return !present(v) || !strings.includes(String(v));
      };
    case 'equals':
      if (values.length !== 1) throw new AmberError('POLICY_SCHEMA', { ...where, problem: "op 'equals' takes exactly one value" });
      return (s) => {
        const v = get(s);
        return present(v) && String(v) === strings[0];
      };
    case 'prefix':
      return (s) => {
        const v = get(s);
        return present(v) && strings.some((p) => String(v).startsWith(p));
      };
    case 'regex': {
      // `/re/flags`, or a bare pattern (field values are often paths: `/tmp/.*` is a pattern, not delimiters).
      const res = strings.map((r) => {
        const m = /^\/(.*)\/([imsu]*)$/s.exec(r);
        return compileRegex(m?.[1] ?? r, m?.[2] ?? '', { value: r, ...where });
      });
      return (s) => {
        const v = get(s);
        return present(v) && res.some((re) => re.test(String(v)));
      };
    }
    case 'exists': {
      const want = values.length === 0 ? true : values[0] !== false && values[0] !== 'false';
      return (s) => present(get(s)) === want;
    }
  }
}

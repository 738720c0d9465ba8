/** The subset of an Ajv / TypeBox validation error that we read. */
export interface SchemaError {
  readonly instancePath: string;
  readonly keyword: string;
  readonly params: unknown;
  readonly message?: string | undefined;
}

export interface SchemaProblem {
  /** JSON pointer of the offending value (for an unknown key: the key itself). */
  readonly path: string;
  readonly problem: string;
}

/**
 * Turns a validator's error list into the one sentence a person needs: which path, and what is
 * wrong there. Unknown and missing keys are named; union-of-literals failures list the choices.
 */
export function describeSchemaErrors(errors: readonly SchemaError[]): SchemaProblem {
  const by = (k: string) => errors.find((e) => e.keyword === k);
  const extra = by('additionalProperties');
  if (extra) {
    const key = firstOf(extra.params, 'additionalProperties') ?? firstOf(extra.params, 'additionalProperty');
    return { path: `${extra.instancePath}/${key}`, problem: `unknown key '${key}'` };
  }
  const req = by('required');
  if (req) {
    const key = firstOf(req.params, 'requiredProperties') ?? firstOf(req.params, 'missingProperty');
    return { path: `${req.instancePath}/${key}`, problem: `missing required key '${key}'` };
  }
  const first = errors.find((e) => e.keyword !== 'boolean' && e.keyword !== 'anyOf') ?? errors[0];
  if (!first) return { path: '/', problem: 'invalid' };
  const consts = errors.filter((e) => e.instancePath === first.instancePath && e.keyword === 'const');
  if (consts.length > 0) {
    const allowed = consts.map((e) => JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue));
    return { path: first.instancePath || '/', problem: `must be one of ${allowed.join(', ')}` };
  }
  return { path: first.instancePath || '/', problem: first.message ?? first.keyword };
}

function firstOf(params: unknown, key: string): string | undefined {
  const v = (params as Record<string, unknown> | undefined)?.[key];
  if (Array.isArray(v)) return v.length > 0 ? String(v[0]) : undefined;
  return typeof v === 'string' ? v : undefined;
}

/**
 * The two patch formats the API server accepts for custom resources (besides server-side apply):
 * JSON merge patch (RFC 7386) and JSON patch (RFC 6902), applied to the stored JSON.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386: objects merge recursively, null deletes, anything else (arrays too) replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Why a JSON patch failed: `decode` → 400 (not a patch), `apply` → 422 (an operation does not apply). */
export class PatchError extends Error {
  constructor(
    readonly stage: 'decode' | 'apply',
    message: string,
  ) {
    super(message);
  }
}

interface Op {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError('apply', `invalid JSON pointer: ${path}`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function equal(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a),
      kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && equal(a[k], b[k]));
  }
  return false;
}
export { equal as jsonEqual };

/** Parent container and last key of a pointer; throws when a parent is missing. */
function locate(doc: Json, path: string): { parent: JsonObject | Json[]; key: string } {
  const parts = pointer(path);
  const key = parts.pop();
  if (key === undefined) throw new PatchError('apply', 'operation on the document root is not supported');
  let cur: Json = doc;
  for (const p of parts) {
    const nextVal: Json | undefined = Array.isArray(cur) ? cur[Number(p)] : isObject(cur) ? cur[p] : undefined;
    if (nextVal === undefined || nextVal === null || typeof nextVal !== 'object') throw new PatchError('apply', `doc is missing path: ${path}`);
    cur = nextVal;
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw new PatchError('apply', `doc is missing path: ${path}`);
  return { parent: cur, key };
}

function arrayIndex(arr: Json[], key: string, forInsert: boolean): number {
  if (forInsert && key === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) throw new PatchError('apply', `invalid array index: ${key}`);
  const i = Number(key);
  if (i > arr.length || (!forInsert && i === arr.length)) throw new PatchError('apply', `array index out of bounds: ${key}`);
  return i;
}

function get(doc: Json, path: string): Json {
  const { parent, key } = locate(doc, path);
  const v = Array.isArray(parent) ? parent[arrayIndex(parent, key, false)] : parent[key];
  if (v === undefined) throw new PatchError('apply', `doc is missing key: ${path}`);
  return v;
}

function remove(doc: Json, path: string): Json {
  const { parent, key } = locate(doc, path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, false), 1)[0] as Json;
  if (!Object.prototype.hasOwnProperty.call(parent, key)) throw new PatchError('apply', `remove operation does not apply: doc is missing key: ${path}`);
  const v = parent[key] as Json;
  delete parent[key];
  return v;
}

function add(doc: Json, path: string, value: Json, replace: boolean): void {
  const { parent, key } = locate(doc, path);
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, key, !replace);
    parent.splice(i, replace ? 1 : 0, value);
    return;
  }
  if (replace && !Object.prototype.hasOwnProperty.call(parent, key))
    throw new PatchError('apply', `replace operation does not apply: doc is missing key: ${path}`);
  parent[key] = value;
}

/** RFC 6902 on a copy of `doc`. */
export function jsonPatch(doc: JsonObject, patch: unknown): JsonObject {
  if (!Array.isArray(patch)) throw new PatchError('decode', 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  const out = structuredClone(doc) as Json;
  for (const raw of patch as unknown[]) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw new PatchError('apply', 'operation missing op or path');
    const o = raw as unknown as Op;
    const value = (): Json => {
      if (!('value' in raw)) throw new PatchError('apply', `${o.op} operation has no value`);
      return structuredClone(raw.value) as Json;
    };
    switch (o.op) {
      case 'add':
        add(out, o.path, value(), false);
        break;
      case 'replace':
        add(out, o.path, value(), true);
        break;
      case 'remove':
        remove(out, o.path);
        break;
      case 'test':
        if (!equal(get(out, o.path), value())) throw new PatchError('apply', `testing value ${o.path} failed: test failed`);
        break;
      case 'move':
      case 'copy': {
        if (typeof o.from !== 'string') throw new PatchError('apply', `${o.op} operation has no from`);
        const v = o.op === 'move' ? remove(out, o.from) : structuredClone(get(out, o.from));
        add(out, o.path, v, false);
        break;
      }
      default:
        throw new PatchError('apply', `Unexpected kind: ${o.op}`);
    }
  }
  if (!isObject(out)) throw new PatchError('apply', 'the patched document is not an object');
  return out;
}

/** Go's encoding/json marshals a map[string]interface{} (an unstructured object) with sorted keys. */
export function sortKeys<T extends Json>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => sortKeys(x)) as T;
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k] as Json);
  return out as T;
}

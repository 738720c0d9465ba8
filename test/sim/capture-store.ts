/**
 * The registry behind `captures.forensics.amber.dev` (namespaced, status subresource on): what
 * apiserver's generic store and apiextensions' customResourceStrategy / statusStrategy do on
 * create, update, patch and delete, with the same Status errors. Objects are kept as the JSON the
 * server serves (keys sorted, as Go marshals an unstructured object); every write stores a new
 * object, takes the next global resourceVersion and records a watch event.
 */
import { createHash, randomInt, randomUUID } from 'node:crypto';
import { ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import {
  alreadyExists,
  badRequest,
  conflict,
  goQuote,
  internalError,
  invalid,
  notFound,
  patchRejected,
  unsupportedMediaType,
  type ApiError,
  type FieldError,
} from './api-errors.js';
import { successStatus } from './k8s-objects.js';
import { validateObjectMeta } from './object-meta.js';
import { isObject, jsonEqual, jsonPatch, mergePatch, PatchError, sortKeys, type Json, type JsonObject } from './object-patch.js';
import { rfc3339Seconds, type SimState } from './sim-state.js';

export const CAPTURE = {
  group: 'forensics.amber.dev',
  version: 'v1alpha1',
  kind: 'Capture',
  listKind: 'CaptureList',
  plural: 'captures',
  singular: 'capture',
  apiVersion: 'forensics.amber.dev/v1alpha1',
} as const;
const GR = { group: CAPTURE.group, resource: CAPTURE.plural };

/** discovery.StorageVersionHash: base64 of the first 8 bytes of sha256("group/version/kind"). */
export const STORAGE_VERSION_HASH = createHash('sha256')
  .update(`${CAPTURE.group}/${CAPTURE.version}/${CAPTURE.kind}`)
  .digest()
  .subarray(0, 8)
  .toString('base64');

export interface Result {
  code: number;
  body: unknown;
}
type Outcome = Result | ApiError;
export type Subresource = 'main' | 'status';
export interface WriteOptions {
  dryRun?: boolean;
}

const OBJECT_META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
  'selfLink',
]);

export const captureKey = (ns: string, name: string) => `${ns}/${name}`;
const metaOf = (o: JsonObject): JsonObject => (isObject(o.metadata) ? o.metadata : {});
const str = (v: Json | undefined): string => (typeof v === 'string' ? v : '');

/** A sim bug (an object that is not a valid Capture shape) throws: the API handler answers 500 and logs it. */
export function checkServed(o: JsonObject): JsonObject {
  try {
    if (o.apiVersion !== CAPTURE.apiVersion || o.kind !== CAPTURE.kind) throw new Error(`apiVersion/kind ${String(o.apiVersion)}/${String(o.kind)}`);
    new ObjectMeta(metaOf(o) as never).validate();
    for (const k of ['spec', 'status'] as const) if (o[k] !== undefined && !isObject(o[k])) throw new Error(`${k} is not an object`);
  } catch (err) {
    throw new Error(`sim: the Capture it was about to serve fails validation: ${(err as Error).message}\n${JSON.stringify(o)}`);
  }
  return o;
}

/** The structural schema prunes unknown top-level fields; ObjectMeta decoding drops unknown metadata fields. */
function prune(o: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const k of ['apiVersion', 'kind', 'spec', 'status']) if (o[k] !== undefined) out[k] = o[k] as Json;
  const meta: JsonObject = {};
  for (const [k, v] of Object.entries(metaOf(o))) if (OBJECT_META_FIELDS.has(k) && v !== null) meta[k] = v;
  delete meta.managedFields; // field tracking is not simulated
  delete meta.selfLink;
  out.metadata = meta;
  return out;
}

/** The create/update handlers' decoding: JSON, then apiVersion (400) before anything else. */
function decode(raw: Buffer | JsonObject): JsonObject | ApiError {
  let o: unknown = raw;
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : '';
  if (Buffer.isBuffer(raw)) {
    const summary = text.length > 30 ? `${text.slice(0, 30)} ...` : text;
    try {
      o = JSON.parse(text);
    } catch (err) {
      return badRequest(
        `the object provided is unrecognized (must be of type ${CAPTURE.kind}): couldn't get version/kind; json parse error: ${(err as Error).message} (${summary})`,
      );
    }
    if (!isObject(o))
      return badRequest(
        `the object provided is unrecognized (must be of type ${CAPTURE.kind}): couldn't get version/kind; json parse error: json: cannot unmarshal ${Array.isArray(o) ? 'array' : typeof o} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" } (${summary})`,
      );
    if (!str(o.kind))
      return badRequest(`the object provided is unrecognized (must be of type ${CAPTURE.kind}): Object 'Kind' is missing in '${text}' (${summary})`);
  }
  const obj = o as JsonObject;
  if (obj.apiVersion !== CAPTURE.apiVersion) {
    return badRequest(`the API version in the data (${str(obj.apiVersion)}) does not match the expected API version (${CAPTURE.apiVersion})`);
  }
  const pruned = prune(obj);
  try {
    // wrongly typed metadata (a number as a label value…) fails decoding, before any validation
    if (obj.metadata !== undefined && !isObject(obj.metadata)) throw new Error('metadata must be an object');
    new ObjectMeta(metaOf(pruned) as never).validate();
  } catch (err) {
    return badRequest(`${str(obj.kind) || CAPTURE.kind} in version "${CAPTURE.version}" cannot be handled as a ${CAPTURE.kind}: ${(err as Error).message}`);
  }
  return pruned;
}

const isError = (x: unknown): x is ApiError =>
  isObject(x as Json) && 'code' in (x as object) && isObject((x as ApiError).body as unknown as Json) && (x as ApiError).body.kind === 'Status';

/** customResourceValidator.Validate + ValidateObjectMetaAccessor + the schema's `type: object` for spec/status. */
function validate(o: JsonObject): FieldError[] {
  const errs: FieldError[] = [];
  if (o.kind !== CAPTURE.kind) errs.push({ type: 'FieldValueInvalid', field: 'kind', value: goQuote(str(o.kind)), detail: `must be ${CAPTURE.kind}` });
  errs.push(...validateObjectMeta(metaOf(o)));
  for (const k of ['spec', 'status'] as const) {
    const v = o[k];
    if (v !== undefined && !isObject(v)) {
      const t = Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v;
      errs.push({ type: 'FieldValueInvalid', field: k, value: goQuote(t), detail: `${k} in body must be of type object: ${goQuote(t)}` });
    }
  }
  return errs;
}

const invalidFor = (o: JsonObject, errs: FieldError[]) => invalid({ group: CAPTURE.group, kind: str(o.kind) || CAPTURE.kind }, str(metaOf(o).name), errs);

/** names.SimpleNameGenerator: the prefix cut to 58 characters, then 5 of utilrand's alphanumerics. */
function generateName(prefix: string): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let s = '';
  for (let i = 0; i < 5; i++) s += alphabet[randomInt(alphabet.length)];
  return `${prefix.slice(0, 58)}${s}`;
}

function commit(state: SimState, type: 'ADDED' | 'MODIFIED', o: JsonObject, prev?: JsonObject): JsonObject {
  const rv = ++state.resourceVersion;
  metaOf(o).resourceVersion = String(rv);
  const stored = checkServed(sortKeys(o));
  state.captures.set(captureKey(str(metaOf(stored).namespace), str(metaOf(stored).name)), stored);
  state.captureWatch.record({ type, object: stored, ...(prev ? { prev } : {}), rv });
  return stored;
}

function remove(state: SimState, old: JsonObject): JsonObject {
  const rv = ++state.resourceVersion;
  const gone = structuredClone(old);
  metaOf(gone).resourceVersion = String(rv);
  state.captures.delete(captureKey(str(metaOf(old).namespace), str(metaOf(old).name)));
  state.captureWatch.record({ type: 'DELETED', object: gone, rv });
  return gone;
}

/** POST. `keepStatus` is for the sim's own seeding (SimCluster.addCapture); the API drops status on create. */
export function createCapture(state: SimState, ns: string, raw: Buffer | JsonObject, opts: WriteOptions & { keepStatus?: boolean } = {}): Outcome {
  const o = decode(raw);
  if (isError(o)) return o;
  const meta = metaOf(o);
  if (str(meta.namespace) && meta.namespace !== ns) return badRequest('the namespace of the provided object does not match the namespace sent on the request');
  if (!opts.keepStatus) delete o.status; // PrepareForCreate: "create cannot set status"
  if (!str(meta.name) && str(meta.generateName)) meta.name = generateName(str(meta.generateName));
  const rvGiven = str(meta.resourceVersion);
  Object.assign(meta, { namespace: ns, uid: randomUUID(), creationTimestamp: rfc3339Seconds(Date.now()), generation: 1 });
  for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'resourceVersion']) delete meta[k];
  const errs = validate(o);
  if (errs.length) return invalidFor(o, errs);
  if (rvGiven) return internalError('resourceVersion should not be set on objects to be created');
  const name = str(meta.name);
  if (state.captures.has(captureKey(ns, name))) return alreadyExists(GR, name);
  if (opts.dryRun) return { code: 201, body: checkServed(sortKeys({ ...o, metadata: { ...meta, resourceVersion: String(state.resourceVersion) } })) };
  return { code: 201, body: commit(state, 'ADDED', o) };
}

/** The object an update leaves, or the error; shared by PUT and PATCH on the object and on /status. */
function prepareUpdate(old: JsonObject, o: JsonObject, sub: Subresource): JsonObject | ApiError {
  const oldMeta = metaOf(old),
    meta = metaOf(o);
  if (sub === 'status') {
    // statusStrategy.PrepareForUpdate: the old object, with only the new status
    const next = structuredClone(old);
    if (o.status !== undefined) next.status = o.status;
    else delete next.status;
    return next;
  }
  if (str(meta.uid) && meta.uid !== oldMeta.uid) {
    return invalidFor(o, [{ type: 'FieldValueInvalid', field: 'metadata.uid', value: goQuote(str(meta.uid)), detail: 'field is immutable' }]);
  }
  // customResourceStrategy.PrepareForUpdate: status stays as it was; any change outside metadata bumps generation
  if (old.status !== undefined) o.status = old.status;
  else delete o.status;
  const outside = (x: JsonObject) => {
    const { metadata: _m, ...rest } = x;
    return rest as JsonObject;
  };
  const generation = typeof oldMeta.generation === 'number' ? oldMeta.generation : 1;
  Object.assign(meta, {
    uid: oldMeta.uid as Json,
    creationTimestamp: oldMeta.creationTimestamp as Json,
    namespace: oldMeta.namespace as Json,
    generation: jsonEqual(outside(o), outside(old)) ? generation : generation + 1,
  });
  for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds'] as const) {
    if (oldMeta[k] !== undefined) meta[k] = oldMeta[k] as Json;
    else delete meta[k];
  }
  return o;
}

function update(state: SimState, ns: string, name: string, o: JsonObject, sub: Subresource, opts: WriteOptions): Outcome {
  const old = state.captures.get(captureKey(ns, name));
  if (!old) return notFound(GR, name);
  const meta = metaOf(o);
  if (str(meta.name) !== name) return badRequest(`the name of the object (${str(meta.name)}) does not match the name on the URL (${name})`);
  if (str(meta.namespace) && meta.namespace !== ns) return badRequest('the namespace of the provided object does not match the namespace sent on the request');
  const rv = str(meta.resourceVersion);
  // customResourceStrategy.AllowUnconditionalUpdate() is false: an update must name the version it replaces
  if (!rv)
    return invalid({ group: CAPTURE.group, kind: CAPTURE.plural }, name, [
      { type: 'FieldValueInvalid', field: 'metadata.resourceVersion', value: '0x0', detail: 'must be specified for an update' },
    ]);
  if (!/^\d+$/.test(rv)) return badRequest(`invalid resource version: ${rv}`);
  if (rv !== metaOf(old).resourceVersion) return conflict(GR, name);
  const next = prepareUpdate(old, o, sub);
  if (isError(next)) return next;
  metaOf(next).resourceVersion = metaOf(old).resourceVersion as Json;
  const errs = validate(next);
  if (errs.length) return invalidFor(next, errs);
  const sorted = sortKeys(next);
  // etcd3 GuaranteedUpdate: identical bytes are not written — no new resourceVersion, no event
  if (jsonEqual(sorted, old)) return { code: 200, body: old };
  if (opts.dryRun) return { code: 200, body: checkServed(sorted) };
  const nextMeta = metaOf(next);
  if (nextMeta.deletionTimestamp !== undefined && !(Array.isArray(nextMeta.finalizers) && nextMeta.finalizers.length)) {
    return { code: 200, body: remove(state, sorted) }; // the last finalizer is gone: the deletion completes
  }
  return { code: 200, body: commit(state, 'MODIFIED', next, old) };
}

/** PUT on the object or on /status. */
export function replaceCapture(state: SimState, ns: string, name: string, raw: Buffer, sub: Subresource, opts: WriteOptions = {}): Outcome {
  const o = decode(raw);
  if (isError(o)) return o;
  return update(state, ns, name, o, sub, opts);
}

export const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'];

/** PATCH on the object or on /status; the patched object goes through the update path. */
export function patchCapture(state: SimState, ns: string, name: string, contentType: string, raw: Buffer, sub: Subresource, opts: WriteOptions = {}): Outcome {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (!PATCH_TYPES.includes(type)) return unsupportedMediaType(PATCH_TYPES);
  if (type === 'application/apply-patch+yaml') return internalError('sim: server-side apply (application/apply-patch+yaml) is not simulated');
  const old = state.captures.get(captureKey(ns, name));
  if (!old) return notFound(GR, name);
  let patch: unknown;
  try {
    patch = JSON.parse(raw.toString('utf8'));
  } catch {
    return badRequest(type === 'application/json-patch+json' ? 'invalid character in JSON patch' : 'Invalid JSON Patch');
  }
  let patched: JsonObject;
  try {
    if (type === 'application/merge-patch+json') {
      const m = mergePatch(structuredClone(old), patch as Json);
      if (!isObject(m)) return badRequest('Invalid JSON Document');
      patched = m;
    } else {
      patched = jsonPatch(old, patch);
    }
  } catch (err) {
    if (err instanceof PatchError) return err.stage === 'decode' ? badRequest(err.message) : patchRejected();
    throw err;
  }
  const o = decode(patched);
  if (isError(o)) return o;
  // a patch is unconditional unless it names a resourceVersion itself
  if (!str(metaOf(o).resourceVersion)) metaOf(o).resourceVersion = metaOf(old).resourceVersion as Json;
  return update(state, ns, name, o, sub, opts);
}

/** DELETE: DeleteOptions.preconditions honoured; finalizers make it a deletionTimestamp (MODIFIED), not a removal. */
export function deleteCapture(state: SimState, ns: string, name: string, raw: Buffer, opts: WriteOptions = {}): Outcome {
  const old = state.captures.get(captureKey(ns, name));
  if (!old) return notFound(GR, name);
  const oldMeta = metaOf(old);
  let options: JsonObject = {};
  if (raw.length) {
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (isObject(parsed as Json)) options = parsed as JsonObject;
    } catch (err) {
      return badRequest(`json parse error: ${(err as Error).message}`);
    }
  }
  const pre = isObject(options.preconditions) ? options.preconditions : {};
  if (str(pre.uid) && pre.uid !== oldMeta.uid) {
    return conflict(GR, name, `Precondition failed: UID in precondition: ${str(pre.uid)}, UID in object meta: ${str(oldMeta.uid)}`);
  }
  if (str(pre.resourceVersion) && pre.resourceVersion !== oldMeta.resourceVersion) {
    return conflict(
      GR,
      name,
      `the ResourceVersion in the precondition (${str(pre.resourceVersion)}) does not match the ResourceVersion in record (${str(oldMeta.resourceVersion)}). The object might have been modified`,
    );
  }
  if (Array.isArray(oldMeta.finalizers) && oldMeta.finalizers.length) {
    if (oldMeta.deletionTimestamp !== undefined || opts.dryRun) return { code: 200, body: old };
    const next = structuredClone(old);
    Object.assign(metaOf(next), { deletionTimestamp: rfc3339Seconds(Date.now()), deletionGracePeriodSeconds: 0 });
    return { code: 200, body: commit(state, 'MODIFIED', next, old) };
  }
  if (!opts.dryRun) remove(state, old);
  return { code: 200, body: successStatus({ name, group: CAPTURE.group, kind: CAPTURE.plural, uid: str(oldMeta.uid) }) };
}

/** The list as served: items keep apiVersion/kind (unlike built-in lists), keys sorted, `continue: ""`. */
export function captureList(items: JsonObject[], rv: number): JsonObject {
  return { apiVersion: CAPTURE.apiVersion, items, kind: CAPTURE.listKind, metadata: { continue: '', resourceVersion: String(rv) } };
}

export function listCaptures(state: SimState, ns: string | undefined, match: (o: JsonObject) => boolean): JsonObject[] {
  return [...state.captures.entries()]
    .filter(([k, o]) => (ns === undefined || k.startsWith(`${ns}/`)) && match(o))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, o]) => o);
}

export { isError as isApiError, metaOf };

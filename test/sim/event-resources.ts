/**
 * `events.k8s.io/v1` Events, as the API server serves them: POST into a namespace, GET of one, the
 * list of a namespace and of all namespaces. A created Event is validated as
 * k8s.io/kubernetes pkg/apis/core/validation/events.go ValidateEventCreate validates one sent
 * through events.k8s.io/v1 (the legacy checks, then the strict ones: eventTime required, type
 * Normal or Warning, the deprecated fields unset, ObjectMeta), with its texts and limits, then
 * with kubernetes-models' schema; `eventTime` must parse as metav1.MicroTime (RFC3339Micro, exactly
 * six fractional digits, as Go's time.Parse demands for `.000000`). Faults (api-faults.ts) apply
 * as to any request: they are answered before routing.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Event } from 'kubernetes-models/events.k8s.io/v1/Event';
import { alreadyExists, badRequest, forbidden, goQuote, invalid, notFound, type ApiError, type FieldError } from './api-errors.js';
import { matchesLabels, parseLabelSelector } from './label-selector.js';
import { isDns1123Subdomain, isQualifiedName, validateObjectMeta } from './object-meta.js';
import type { JsonObject } from './object-patch.js';
import { writeJson, type SimState } from './sim-state.js';

type Json = Record<string, unknown>;

const GROUP = 'events.k8s.io';
const GR = { group: GROUP, resource: 'events' };
const GK = { group: GROUP, kind: 'Event' };
/** pkg/apis/core/validation/events.go */
const LIMITS = { reportingInstance: 128, action: 128, reason: 128, note: 1024 } as const;
const RFC3339_MICRO = '2006-01-02T15:04:05.000000Z07:00';

export const eventKey = (ns: string, name: string) => `${ns}/${name}`;

function route(path: string): { ns?: string; name?: string } | undefined {
  const all = /^\/apis\/events\.k8s\.io\/v1\/events$/.exec(path);
  if (all) return {};
  const m = /^\/apis\/events\.k8s\.io\/v1\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/.exec(path);
  if (!m?.[1]) return undefined;
  return { ns: decodeURIComponent(m[1]), ...(m[2] ? { name: decodeURIComponent(m[2]) } : {}) };
}

/** Handles the events.k8s.io/v1 Event paths; false for every other request. */
export function serveEvents(state: SimState, req: IncomingMessage, res: ServerResponse, url: URL, caller: { user: string; allowed: boolean }): boolean {
  const r = route(url.pathname);
  if (r === undefined) return false;
  const fail = (e: ApiError) => writeJson(res, e.code, e.body);
  const deny = (verb: string) =>
    fail(forbidden(caller.user, { verb, group: GROUP, resource: 'events', ...(r.ns ? { namespace: r.ns } : {}), ...(r.name ? { name: r.name } : {}) }));
  if (req.method === 'POST' && r.ns !== undefined && r.name === undefined) {
    if (!caller.allowed) return (deny('create'), true);
    const ns = r.ns;
    readBody(req).then(
      (text) => {
        const out = createEvent(state, ns, text);
        if ('code' in out) fail(out);
        else writeJson(res, 201, out.object);
      },
      () => fail(badRequest('the body of the request could not be read')),
    );
    return true;
  }
  if (req.method === 'GET' && r.name !== undefined && r.ns !== undefined) {
    if (!caller.allowed) return (deny('get'), true);
    const o = state.events.get(eventKey(r.ns, r.name));
    if (o === undefined) return (fail(notFound(GR, r.name)), true);
    writeJson(res, 200, o);
    return true;
  }
  if (req.method === 'GET' && r.name === undefined) {
    if (!caller.allowed) return (deny('list'), true);
    const sel = parseLabelSelector(url.searchParams.get('labelSelector'));
    if (typeof sel === 'string') return (fail(badRequest(sel)), true);
    const items = [...state.events.entries()]
      .filter(([k, o]) => (r.ns === undefined || k.startsWith(`${r.ns}/`)) && matchesLabels(sel, (o['metadata'] as Json)['labels'] as Record<string, string>))
      .map(([, o]) => {
        const { kind: _k, apiVersion: _a, ...rest } = o;
        return rest;
      });
    writeJson(res, 200, { kind: 'EventList', apiVersion: `${GROUP}/v1`, metadata: { resourceVersion: String(state.resourceVersion) }, items });
    return true;
  }
  fail({
    code: 405,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the server does not allow this method on the requested resource',
      reason: 'MethodNotAllowed',
      details: {},
      code: 405,
    },
  });
  return true;
}

/** What POST answers: the stored Event, or the API server's error. Exported for the sim's own tests. */
export function createEvent(state: SimState, ns: string, text: string): { object: JsonObject } | ApiError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    return badRequest(`Event in version "v1" cannot be handled as a Event: ${(e as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return badRequest('Event in version "v1" cannot be handled as a Event: the object is not a JSON object');
  const o = structuredClone(body) as Json;
  // the decoder defaults apiVersion and kind from the URL, and refuses others
  if (o['apiVersion'] !== undefined && o['apiVersion'] !== `${GROUP}/v1`)
    return badRequest(`the API version in the data (${String(o['apiVersion'])}) does not match the expected API version (${GROUP}/v1)`);
  if (o['kind'] !== undefined && o['kind'] !== 'Event')
    return badRequest(`the kind in the data (${String(o['kind'])}) does not match the expected kind (Event)`);
  o['apiVersion'] = `${GROUP}/v1`;
  o['kind'] = 'Event';
  const meta = (o['metadata'] ?? {}) as Json;
  if (typeof meta !== 'object' || Array.isArray(meta)) return badRequest('Event in version "v1" cannot be handled as a Event: metadata is not an object');
  if (meta['namespace'] !== undefined && meta['namespace'] !== ns)
    return badRequest('the namespace of the provided object does not match the namespace sent on the request');
  const eventTime = o['eventTime'];
  if (eventTime !== undefined && eventTime !== null) {
    const problem = microTimeProblem(eventTime);
    if (problem !== undefined) return badRequest(`Event in version "v1" cannot be handled as a Event: ${problem}`);
  }
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  const errs = [...eventErrors(o, ns), ...validateObjectMeta(meta)];
  if (errs.length > 0) return invalid(GK, name, errs);
  try {
    new Event(o as never).validate();
  } catch (e) {
    return invalid(GK, name, [{ type: 'FieldValueInvalid', field: '<schema>', value: '""', detail: (e as Error).message.split('\n')[0] ?? 'invalid' }]);
  }
  if (state.events.has(eventKey(ns, name))) return alreadyExists(GR, name);
  state.resourceVersion++;
  const object: JsonObject = {
    ...o,
    metadata: {
      ...meta,
      namespace: ns,
      uid: randomUUID(),
      resourceVersion: String(state.resourceVersion),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    },
  } as JsonObject;
  state.events.set(eventKey(ns, name), object);
  return { object };
}

/** metav1.MicroTime.UnmarshalJSON: time.Parse(RFC3339Micro, s); undefined when it parses. */
function microTimeProblem(v: unknown): string | undefined {
  if (typeof v !== 'string') return `json: cannot unmarshal ${typeof v} into Go struct field Event.eventTime of type string`;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d*)?(Z|[+-]\d\d:\d\d)?$/.exec(v);
  if (!m || m[3] === undefined || Number.isNaN(Date.parse(v)))
    return `parsing time ${goQuote(v)} as ${goQuote(RFC3339_MICRO)}: cannot parse ${goQuote(v)} as ${goQuote(RFC3339_MICRO)}`;
  if (m[2] === undefined || m[2].length !== 7) {
    const rest = v.slice(m[1]?.length ?? 0);
    return `parsing time ${goQuote(v)} as ${goQuote(RFC3339_MICRO)}: cannot parse ${goQuote(rest)} as ".000000"`;
  }
  return undefined;
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const required = (field: string): FieldError => ({ type: 'FieldValueRequired', field, detail: '' });
const tooLong = (field: string, n: number): FieldError => ({ type: 'FieldValueInvalid', field, value: '""', detail: `can have at most ${n} characters` });
const unset = (field: string): FieldError => ({ type: 'FieldValueInvalid', field, value: '""', detail: 'needs to be unset' });

/**
 * legacyValidateEvent (the eventTime-set branch) then ValidateEventCreate's strict checks, in
 * their order; fields are named as the internal core.Event names them (`involvedObject`,
 * `message`, `firstTimestamp`), which is what the real errors say for an events.k8s.io Event.
 */
function eventErrors(o: Json, ns: string): FieldError[] {
  const errs: FieldError[] = [];
  const regarding = (o['regarding'] ?? {}) as Json;
  const hasTime = o['eventTime'] !== undefined && o['eventTime'] !== null;
  if (hasTime) {
    if (str(regarding['namespace']) === '' && ns !== 'default' && ns !== 'kube-system')
      errs.push({ type: 'FieldValueInvalid', field: 'involvedObject.namespace', value: '""', detail: 'does not match event.namespace' });
    const controller = str(o['reportingController']);
    if (controller === '') errs.push(required('reportingController'));
    for (const m of isQualifiedName(controller)) errs.push({ type: 'FieldValueInvalid', field: 'reportingController', value: goQuote(controller), detail: m });
    const instance = str(o['reportingInstance']);
    if (instance === '') errs.push(required('reportingInstance'));
    if (Buffer.byteLength(instance) > LIMITS.reportingInstance) errs.push(tooLong('reportingInstance', LIMITS.reportingInstance));
    const action = str(o['action']);
    if (action === '') errs.push(required('action'));
    if (Buffer.byteLength(action) > LIMITS.action) errs.push(tooLong('action', LIMITS.action));
    const reason = str(o['reason']);
    if (reason === '') errs.push(required('reason'));
    if (Buffer.byteLength(reason) > LIMITS.reason) errs.push(tooLong('reason', LIMITS.reason));
    if (Buffer.byteLength(str(o['note'])) > LIMITS.note) errs.push(tooLong('message', LIMITS.note));
  }
  for (const m of isDns1123Subdomain(ns)) errs.push({ type: 'FieldValueInvalid', field: 'namespace', value: goQuote(ns), detail: m });
  if (!hasTime) errs.push(required('eventTime'));
  const type = str(o['type']);
  if (type !== 'Normal' && type !== 'Warning') errs.push({ type: 'FieldValueInvalid', field: 'type', value: '""', detail: `has invalid value: ${type}` });
  if (o['deprecatedFirstTimestamp'] != null) errs.push(unset('firstTimestamp'));
  if (o['deprecatedLastTimestamp'] != null) errs.push(unset('lastTimestamp'));
  if (typeof o['deprecatedCount'] === 'number' && o['deprecatedCount'] !== 0) errs.push(unset('count'));
  const source = (o['deprecatedSource'] ?? {}) as Json;
  if (str(source['component']) !== '' || str(source['host']) !== '') errs.push(unset('source'));
  return errs;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

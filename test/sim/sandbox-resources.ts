/**
 * Pods and NetworkPolicies created through the API (what `amber restore --namespace` makes): POST
 * of a Pod or a NetworkPolicy into a namespace, GET of one, and the NetworkPolicy list, answered as
 * the real API server does — the object validated (kubernetes-models' schema, then ObjectMeta and
 * the fields apimachinery checks, with its texts), 409 AlreadyExists, 400 for a namespace that
 * disagrees with the path, 403 for a caller without RBAC. A created pod stays Pending: nothing
 * schedules it here. Pods made with sim.addPod keep their own model (k8s-objects.ts); the pod list
 * shows both (api-server.ts).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pod } from 'kubernetes-models/v1/Pod';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { alreadyExists, badRequest, forbidden, invalid, notFound, type ApiError, type FieldError } from './api-errors.js';
import { matchesLabels, parseLabelSelector } from './label-selector.js';
import { isDns1123Subdomain, validateObjectMeta } from './object-meta.js';
import { podKey, writeJson, type SimState } from './sim-state.js';

type Json = Record<string, unknown>;
type Kind = 'pods' | 'networkpolicies';

const KINDS: Record<Kind, { group: string; kind: string; apiVersion: string; listKind: string }> = {
  pods: { group: '', kind: 'Pod', apiVersion: 'v1', listKind: 'PodList' },
  networkpolicies: { group: 'networking.k8s.io', kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', listKind: 'NetworkPolicyList' },
};

function route(path: string): { kind: Kind; ns: string; name?: string } | undefined {
  const core = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/.exec(path);
  if (core?.[1]) return { kind: 'pods', ns: decodeURIComponent(core[1]), ...(core[2] ? { name: decodeURIComponent(core[2]) } : {}) };
  const np = /^\/apis\/networking\.k8s\.io\/v1\/namespaces\/([^/]+)\/networkpolicies(?:\/([^/]+))?$/.exec(path);
  if (np?.[1]) return { kind: 'networkpolicies', ns: decodeURIComponent(np[1]), ...(np[2] ? { name: decodeURIComponent(np[2]) } : {}) };
  return undefined;
}

/** The created pods of a namespace (or all), for the pod list. */
export function createdPods(state: SimState, ns: string | undefined): Json[] {
  return ([...state.created.values()] as Json[]).filter((o) => o['kind'] === 'Pod' && (ns === undefined || (o['metadata'] as Json)['namespace'] === ns));
}

/**
 * Handles POST of pods and networkpolicies, GET of a created one, and GET of the networkpolicy
 * list; false for every other request (the pod reads of sim.addPod's pods stay in api-server.ts).
 */
export function serveSandboxResources(
  state: SimState,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  caller: { user: string; allowed: boolean },
): boolean {
  const r = route(url.pathname);
  if (r === undefined) return false;
  const kind = KINDS[r.kind];
  const fail = (e: ApiError) => writeJson(res, e.code, e.body);
  if (req.method === 'POST' && r.name === undefined) {
    if (!caller.allowed) return (fail(forbidden(caller.user, { verb: 'create', group: kind.group, resource: r.kind, namespace: r.ns })), true);
    readJson(req).then(
      (body) => {
        const out = create(state, r.kind, r.ns, body);
        if ('code' in out) fail(out);
        else writeJson(res, 201, out.object);
      },
      () => fail(badRequest('the body of the request could not be read as JSON')),
    );
    return true;
  }
  if (req.method === 'GET' && r.name !== undefined) {
    const o = state.created.get(key(r.kind, r.ns, r.name));
    // a pod of sim.addPod is served by api-server.ts
    if (o === undefined && r.kind === 'pods') return false;
    if (!caller.allowed) return (fail(forbidden(caller.user, { verb: 'get', group: kind.group, resource: r.kind, namespace: r.ns, name: r.name })), true);
    if (o === undefined) return (fail(notFound({ group: kind.group, resource: r.kind }, r.name)), true);
    writeJson(res, 200, o);
    return true;
  }
  if (req.method === 'GET' && r.kind === 'networkpolicies') {
    if (!caller.allowed) return (fail(forbidden(caller.user, { verb: 'list', group: kind.group, resource: r.kind, namespace: r.ns })), true);
    const sel = parseLabelSelector(url.searchParams.get('labelSelector'));
    if (typeof sel === 'string') return (fail(badRequest(sel)), true);
    const items = [...state.created.values()].filter(
      (o) =>
        o['kind'] === 'NetworkPolicy' &&
        (o['metadata'] as Json)['namespace'] === r.ns &&
        matchesLabels(sel, (o['metadata'] as Json)['labels'] as Record<string, string>),
    );
    writeJson(res, 200, { kind: kind.listKind, apiVersion: kind.apiVersion, metadata: { resourceVersion: String(state.resourceVersion) }, items });
    return true;
  }
  return false;
}

const key = (kind: Kind, ns: string, name: string) => `${kind}/${ns}/${name}`;

function create(state: SimState, kind: Kind, ns: string, body: unknown): { object: Json } | ApiError {
  const k = KINDS[kind];
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return badRequest('the body of the request was not an object');
  const o = structuredClone(body) as Json;
  const meta = (o['metadata'] ?? {}) as Json;
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  if (meta['namespace'] !== undefined && meta['namespace'] !== ns)
    return badRequest('the namespace of the provided object does not match the namespace sent on the request');
  if (o['kind'] !== undefined && o['kind'] !== k.kind) return badRequest(`the kind of the provided object (${String(o['kind'])}) is not ${k.kind}`);
  try {
    if (kind === 'pods') new Pod(o as never).validate();
    else new NetworkPolicy(o as never).validate();
  } catch (e) {
    return invalid(k, name, [{ type: 'FieldValueInvalid', field: '<schema>', value: '""', detail: (e as Error).message.split('\n')[0] ?? 'invalid' }]);
  }
  const errs: FieldError[] = [...validateObjectMeta(meta), ...(kind === 'pods' ? podErrors(o) : policyErrors(o))];
  if (errs.length > 0) return invalid(k, name, errs);
  if (state.created.has(key(kind, ns, name)) || (kind === 'pods' && state.pods.has(podKey(ns, name))))
    return alreadyExists({ group: k.group, resource: kind }, name);
  state.resourceVersion++;
  const object: Json = {
    ...o,
    apiVersion: k.apiVersion,
    kind: k.kind,
    metadata: {
      ...meta,
      namespace: ns,
      uid: randomUUID(),
      resourceVersion: String(state.resourceVersion),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    },
    ...(kind === 'pods' ? { status: { phase: 'Pending', qosClass: 'BestEffort' } } : {}),
  };
  state.created.set(key(kind, ns, name), object as never);
  return { object };
}

/** What the API server checks of a pod beyond its schema, as far as amber's sandbox pods go. */
function podErrors(o: Json): FieldError[] {
  const spec = (o['spec'] ?? {}) as Json;
  const containers = Array.isArray(spec['containers']) ? (spec['containers'] as Json[]) : [];
  const errs: FieldError[] = [];
  if (containers.length === 0) errs.push({ type: 'FieldValueRequired', field: 'spec.containers', detail: '' });
  containers.forEach((c, i) => {
    const name = typeof c['name'] === 'string' ? c['name'] : '';
    if (name === '') errs.push({ type: 'FieldValueRequired', field: `spec.containers[${i}].name`, detail: '' });
    else if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63)
      errs.push({
        type: 'FieldValueInvalid',
        field: `spec.containers[${i}].name`,
        value: JSON.stringify(name),
        detail: "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
      });
    if (typeof c['image'] !== 'string' || c['image'] === '') errs.push({ type: 'FieldValueRequired', field: `spec.containers[${i}].image`, detail: '' });
  });
  for (const v of ['restartPolicy'] as const) {
    const p = spec[v];
    if (p !== undefined && !['Always', 'OnFailure', 'Never'].includes(String(p)))
      errs.push({ type: 'FieldValueInvalid', field: `spec.${v}`, value: JSON.stringify(p), detail: 'supported values: "Always", "OnFailure", "Never"' });
  }
  if (typeof spec['nodeName'] === 'string')
    for (const m of isDns1123Subdomain(spec['nodeName']))
      errs.push({ type: 'FieldValueInvalid', field: 'spec.nodeName', value: JSON.stringify(spec['nodeName']), detail: m });
  return errs;
}

function policyErrors(o: Json): FieldError[] {
  const spec = (o['spec'] ?? {}) as Json;
  const errs: FieldError[] = [];
  if (spec['podSelector'] === undefined) errs.push({ type: 'FieldValueRequired', field: 'spec.podSelector', detail: '' });
  const types = Array.isArray(spec['policyTypes']) ? (spec['policyTypes'] as unknown[]) : [];
  types.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress')
      errs.push({ type: 'FieldValueInvalid', field: `spec.policyTypes[${i}]`, value: JSON.stringify(t), detail: 'supported values: "Egress", "Ingress"' });
  });
  return errs;
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(e as Error);
      }
    });
    req.on('error', reject);
  });
}

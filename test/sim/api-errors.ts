/**
 * The metav1.Status bodies the real API server answers with, built as k8s.io/apimachinery
 * pkg/api/errors builds them (NewNotFound, NewAlreadyExists, NewConflict, NewInvalid,
 * NewForbidden, NewBadRequest, NewResourceExpired, NewGenericServerResponse) and as
 * apiserver endpoints/handlers/responsewriters/errors.go words a forbidden request.
 */
import type { IStatus } from '@kubernetes-models/apimachinery/apis/meta/v1/Status';
import { statusObject } from './k8s-objects.js';

export interface GroupResource {
  group: string;
  resource: string;
}
export interface GroupKind {
  group: string;
  kind: string;
}

/** schema.GroupResource.String(): `captures.forensics.amber.dev`, or `pods` for the core group. */
export const qualified = (g: string, r: string) => (g ? `${r}.${g}` : r);

export const OPTIMISTIC_LOCK = 'the object has been modified; please apply your changes to the latest version and try again';

export interface ApiError {
  code: number;
  body: IStatus;
}
const err = (body: IStatus): ApiError => ({ code: body.code ?? 500, body });

export const notFound = (gr: GroupResource, name: string): ApiError =>
  err(statusObject(404, 'NotFound', `${qualified(gr.group, gr.resource)} "${name}" not found`, { name, group: gr.group || undefined, kind: gr.resource }));

export const alreadyExists = (gr: GroupResource, name: string): ApiError =>
  err(
    statusObject(409, 'AlreadyExists', `${qualified(gr.group, gr.resource)} "${name}" already exists`, {
      name,
      group: gr.group || undefined,
      kind: gr.resource,
    }),
  );

export const conflict = (gr: GroupResource, name: string, why: string = OPTIMISTIC_LOCK): ApiError =>
  err(
    statusObject(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr.group, gr.resource)} "${name}": ${why}`, {
      name,
      group: gr.group || undefined,
      kind: gr.resource,
    }),
  );

export const badRequest = (message: string): ApiError => err(statusObject(400, 'BadRequest', message));

export const methodNotAllowed = (): ApiError =>
  err(statusObject(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {}));

export const pathNotFound = (): ApiError => err(statusObject(404, 'NotFound', 'the server could not find the requested resource', {}));

/** A watch from a resourceVersion the server no longer remembers; no details, as NewResourceExpired. */
export const expired = (message: string): ApiError => err(statusObject(410, 'Expired', message));

/** StatusReasonUnknown is "" and so left out, as ErrorToAPIStatus does for a plain Go error. */
export const internalError = (message: string): ApiError => err(statusObject(500, '', message));

export const entityTooLarge = (limit: number): ApiError => err(statusObject(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`));

export const unsupportedMediaType = (accepted: string[]): ApiError =>
  err(statusObject(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`));

/** A JSON patch that does not apply: NewGenericServerResponse(422, …) keeps only its canned message. */
export const patchRejected = (): ApiError => err(statusObject(422, 'Invalid', 'the server rejected our request due to an error in our request', {}));

/** field.Error. `value` is already formatted the way Go's %#v would print it (strings quoted). */
export interface FieldError {
  type: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueTooLong';
  field: string;
  value?: string;
  detail: string;
}

const TYPE_TEXT: Record<FieldError['type'], string> = {
  FieldValueInvalid: 'Invalid value',
  FieldValueRequired: 'Required value',
  FieldValueTooLong: 'Too long',
};

/** field.Error.ErrorBody(): Required and TooLong leave the value out. */
export function errorBody(e: FieldError): string {
  const head = e.type === 'FieldValueInvalid' ? `${TYPE_TEXT[e.type]}: ${e.value ?? '""'}` : TYPE_TEXT[e.type];
  return e.detail ? `${head}: ${e.detail}` : head;
}

export const goQuote = (s: string) => JSON.stringify(s);

/** NewInvalid: `Kind.group "name" is invalid: <one error>` or `… is invalid: [e1, e2]`. */
export function invalid(gk: GroupKind, name: string, errs: FieldError[]): ApiError {
  const texts = errs.map((e) => `${e.field}: ${errorBody(e)}`);
  const joined = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  return err(
    statusObject(422, 'Invalid', `${qualified(gk.group, gk.kind)} "${name}" is invalid: ${joined}`, {
      name,
      group: gk.group || undefined,
      kind: gk.kind,
      causes: errs.map((e) => ({ reason: e.type, message: errorBody(e), field: e.field })),
    }),
  );
}

export interface AuthzAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
  namespace?: string;
}

/** responsewriters.Forbidden: the GroupResource in details leaves the subresource out, the message keeps it. */
export function forbidden(user: string, a: AuthzAttributes): ApiError {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const why = `User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}`;
  const gr = qualified(a.group, a.resource);
  const message = a.name ? `${gr} "${a.name}" is forbidden: ${why}` : `${gr} is forbidden: ${why}`;
  return err(statusObject(403, 'Forbidden', message, { name: a.name || undefined, group: a.group || undefined, kind: a.resource }));
}

/** A non-resource path (discovery) refused: `forbidden: User "…" cannot get path "/apis/…"`. */
export const forbiddenPath = (user: string, verb: string, path: string): ApiError =>
  err(statusObject(403, 'Forbidden', `forbidden: User "${user}" cannot ${verb} path "${path}"`, {}));

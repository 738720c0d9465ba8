import Type, { type Static } from 'typebox';

const GVK = Type.Object({ group: Type.String(), version: Type.String(), kind: Type.String() }, { additionalProperties: true });
const GVR = Type.Object({ group: Type.String(), version: Type.String(), resource: Type.String() }, { additionalProperties: true });

/**
 * `admission.k8s.io/v1` AdmissionReview as the API server sends it to a validating webhook.
 * Open to new keys (the API adds some); only what amber reads is required.
 */
export const AdmissionReview = Type.Object(
  {
    apiVersion: Type.Literal('admission.k8s.io/v1'),
    kind: Type.Literal('AdmissionReview'),
    request: Type.Object(
      {
        uid: Type.String({ minLength: 1, maxLength: 128 }),
        kind: GVK,
        resource: GVR,
        subResource: Type.Optional(Type.String({ maxLength: 64 })),
        name: Type.Optional(Type.String({ maxLength: 253 })),
        namespace: Type.Optional(Type.String({ maxLength: 63 })),
        operation: Type.Union([Type.Literal('CREATE'), Type.Literal('UPDATE'), Type.Literal('DELETE'), Type.Literal('CONNECT')]),
        userInfo: Type.Object(
          {
            username: Type.Optional(Type.String({ maxLength: 1024 })),
            uid: Type.Optional(Type.String({ maxLength: 256 })),
            groups: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 256 })),
          },
          { additionalProperties: true },
        ),
        object: Type.Optional(Type.Unknown()),
        oldObject: Type.Optional(Type.Unknown()),
        dryRun: Type.Optional(Type.Boolean()),
        options: Type.Optional(Type.Unknown()),
      },
      { additionalProperties: true },
    ),
  },
  { additionalProperties: true, $id: 'AdmissionReview' },
);
export type AdmissionReview = Static<typeof AdmissionReview>;

/** The answer: always well-formed, always echoing the request uid. */
export const AdmissionAnswer = Type.Object({
  apiVersion: Type.Literal('admission.k8s.io/v1'),
  kind: Type.Literal('AdmissionReview'),
  response: Type.Object({
    uid: Type.String(),
    allowed: Type.Boolean(),
    status: Type.Optional(Type.Object({ code: Type.Integer(), reason: Type.Optional(Type.String()), message: Type.String() })),
    warnings: Type.Optional(Type.Array(Type.String())),
  }),
});
export type AdmissionAnswer = Static<typeof AdmissionAnswer>;

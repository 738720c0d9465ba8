import Type, { type Static } from 'typebox';

const Labels = Type.Record(Type.String({ maxLength: 1024 }), Type.String(), { maxProperties: 512 });

export const AlertmanagerAlert = Type.Object(
  {
    status: Type.Union([Type.Literal('firing'), Type.Literal('resolved')]),
    labels: Labels,
    annotations: Type.Optional(Labels),
    startsAt: Type.String({ maxLength: 64 }),
    endsAt: Type.Optional(Type.String({ maxLength: 64 })),
    generatorURL: Type.Optional(Type.String()),
    fingerprint: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: true },
);
export type AlertmanagerAlert = Static<typeof AlertmanagerAlert>;

/** Alertmanager's webhook payload, version 4. Open to the optional keys newer releases add. */
export const AlertmanagerWebhook = Type.Object(
  {
    version: Type.Literal('4'),
    groupKey: Type.Optional(Type.String()),
    truncatedAlerts: Type.Optional(Type.Integer({ minimum: 0 })),
    status: Type.Optional(Type.Union([Type.Literal('firing'), Type.Literal('resolved')])),
    receiver: Type.Optional(Type.String()),
    groupLabels: Type.Optional(Labels),
    commonLabels: Type.Optional(Labels),
    commonAnnotations: Type.Optional(Labels),
    externalURL: Type.Optional(Type.String()),
    alerts: Type.Array(AlertmanagerAlert, { maxItems: 1000 }),
  },
  { additionalProperties: true, $id: 'AlertmanagerWebhook' },
);
export type AlertmanagerWebhook = Static<typeof AlertmanagerWebhook>;

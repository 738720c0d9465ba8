import Type, { type Static } from 'typebox';
import { IncludeItem, LockMode } from '../core/capture.js';
import { Source } from '../core/signal.js';

const closed = { additionalProperties: false } as const;
const NameList = Type.Array(Type.String({ minLength: 1 }), { minItems: 1 });

export const FieldCondition = Type.Object(
  {
    key: Type.String({ minLength: 1 }),
    op: Type.Union([Type.Literal('in'), Type.Literal('notIn'), Type.Literal('equals'), Type.Literal('prefix'), Type.Literal('regex'), Type.Literal('exists')]),
    /** Required for every op but `exists` (where an optional [false] means "is absent"). */
    values: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
  },
  closed,
);
export type FieldCondition = Static<typeof FieldCondition>;

/** The CapturePolicy document, Kubernetes-shaped so it can later be served as a custom resource. */
export const CapturePolicy = Type.Object(
  {
    apiVersion: Type.Literal('forensics.amber.dev/v1alpha1'),
    kind: Type.Literal('CapturePolicy'),
    metadata: Type.Object(
      {
        name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 }),
        labels: Type.Optional(Type.Record(Type.String(), Type.String())),
        annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
      },
      closed,
    ),
    spec: Type.Object(
      {
        description: Type.String({ minLength: 1 }),
        disabled: Type.Optional(Type.Boolean()),
        match: Type.Object(
          {
            sources: Type.Array(Source, { minItems: 1 }),
            rules: Type.Optional(NameList),
            priority: Type.Optional(Type.String()),
            tags: Type.Optional(Type.Object({ any: Type.Optional(NameList), all: Type.Optional(NameList) }, closed)),
            namespaces: Type.Optional(Type.Object({ include: Type.Optional(NameList), exclude: Type.Optional(NameList) }, closed)),
            fields: Type.Optional(Type.Array(FieldCondition)),
          },
          closed,
        ),
        capture: Type.Optional(
          Type.Object(
            {
              containers: Type.Optional(Type.Union([Type.Literal('target'), Type.Literal('all')])),
              cooldown: Type.Optional(Type.String()),
              timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
              include: Type.Optional(Type.Array(IncludeItem)),
            },
            closed,
          ),
        ),
        admission: Type.Optional(
          Type.Object(
            {
              /** Hold the exec/attach/debug answer until the target's checkpoint is written (fail-open after maxWaitSeconds). */
              holdUntil: Type.Optional(Type.Literal('checkpointed')),
              /** At most this long (the webhook's own timeout is at most 30 s). */
              maxWaitSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 25 })),
              /** Deny DELETE and eviction of the target pod while its capture has not reached Uploading. */
              holdDeletes: Type.Optional(Type.Boolean()),
            },
            closed,
          ),
        ),
        /** Send this policy's captures to these of the settings' `notifications` only; `[]`: to none. Absent: every one that takes them. */
        notify: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 }), { maxItems: 32, uniqueItems: true })),
        evidence: Type.Optional(
          Type.Object(
            {
              retentionDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 36500 })),
              lock: Type.Optional(LockMode),
              /** Also place an S3 legal hold on every object (lifted only by someone with s3:PutObjectLegalHold). */
              legalHold: Type.Optional(Type.Boolean()),
              /**
               * Encrypt the archive, pod.json, logs, signals.json and report.json to these age
               * recipients; `recipients: []` opts out of a configured default.
               */
              encryption: Type.Optional(Type.Object({ recipients: Type.Array(Type.String(), { maxItems: 32 }) }, closed)),
            },
            closed,
          ),
        ),
      },
      closed,
    ),
  },
  closed,
);
export type CapturePolicy = Static<typeof CapturePolicy>;

/** Defaults for what a policy leaves out. */
export const POLICY_DEFAULTS = {
  containers: 'target',
  cooldown: '15m',
  timeoutSeconds: 120,
  include: ['podSpec', 'logs'],
  retentionDays: 365,
  lock: 'compliance',
} as const;

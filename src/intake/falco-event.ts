import Type, { type Static } from 'typebox';

/**
 * One Falco event as `http_output` (json_output: true) or Falcosidekick's webhook output sends
 * it. Open to new keys: Falco adds some over time and the alert must not be lost for it.
 */
export const FalcoEvent = Type.Object(
  {
    time: Type.String({ maxLength: 64, description: 'RFC 3339, nanoseconds, UTC' }),
    rule: Type.String({ minLength: 1, maxLength: 1024 }),
    priority: Type.String({ minLength: 1, maxLength: 32 }),
    output: Type.Optional(Type.String()),
    source: Type.Optional(Type.String({ maxLength: 64, description: '`syscall`; Falcosidekick may send `syscalls`' })),
    hostname: Type.Optional(Type.String({ maxLength: 253 })),
    tags: Type.Optional(Type.Array(Type.String({ maxLength: 256 }), { maxItems: 256 })),
    uuid: Type.Optional(Type.String({ maxLength: 64, description: 'added by Falcosidekick' })),
    output_fields: Type.Record(Type.String({ maxLength: 256 }), Type.Unknown(), { maxProperties: 1024 }),
  },
  { additionalProperties: true, $id: 'FalcoEvent' },
);
export type FalcoEvent = Static<typeof FalcoEvent>;

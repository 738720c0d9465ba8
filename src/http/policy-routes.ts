import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { CompiledPolicy } from '../policy/compile-policy.js';

const PolicySummary = Type.Object({
  name: Type.String(),
  description: Type.String(),
  file: Type.String(),
  disabled: Type.Boolean(),
  match: Type.Unknown(),
});

/**
 * The policies this server runs, as written (their `match`): the evidence browser shows which
 * conditions made a capture. The file is the base name only: the server's paths are not the page's business.
 */
export const policyRoutes: FastifyPluginAsyncTypebox<{ policies: readonly CompiledPolicy[] }> = async (app, { policies }) => {
  const listed = policies.map((p) => ({
    name: p.name,
    description: p.description,
    file: p.file.split('/').pop() ?? p.file,
    disabled: p.disabled,
    match: p.match ?? {},
  }));
  app.get(
    '/v1/policies',
    {
      config: { auth: true },
      schema: {
        summary: 'The capture policies this server runs, with their match conditions as written',
        security: [{ bearer: [] }],
        response: { 200: Type.Object({ policies: Type.Array(PolicySummary) }) },
      },
    },
    async () => ({ policies: listed }),
  );
};

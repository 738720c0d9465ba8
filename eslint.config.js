// @ts-check
// The linter: typescript-eslint's recommended rules, the promise rules that need types (a
// floating promise in a capture pipeline is lost evidence or an unhandled rejection), and
// DESIGN's import rules (docs/architecture.md), so a folder cannot grow a dependency it may not have.
import tseslint from 'typescript-eslint';

/**
 * What each folder of src/ may import (docs/architecture.md, "Folders, imports and ports"), and
 * the SDKs that only their adapter folder may use. cli/ is the composition root: anything.
 */
const FOLDERS = {
  core: [],
  config: ['core'],
  intake: ['core'],
  policy: ['core'],
  queue: ['core', 'kube'],
  kube: ['core'],
  evidence: ['core'],
  storage: ['core'],
  analysis: ['core'],
  capture: ['core', 'kube', 'evidence', 'storage', 'analysis'],
  restore: ['core', 'evidence', 'storage', 'kube'],
  notify: ['core', 'kube'],
  review: ['core', 'evidence', 'storage', 'analysis'],
  http: ['core', 'intake', 'policy', 'queue'],
  ui: [],
};
const SDKS = {
  kube: ['@kubernetes/client-node'],
  storage: ['@aws-sdk/*'],
  evidence: ['jose'],
  http: ['fastify', '@fastify/*'],
  analysis: ['@virustotal/yara-x'],
};

const importRules = Object.entries(FOLDERS).map(([folder, may]) => {
  const forbidden = [...Object.keys(FOLDERS), 'cli'].filter((f) => f !== folder && !may.includes(f));
  const sdks = Object.entries(SDKS)
    .filter(([owner]) => owner !== folder)
    .flatMap(([, names]) => names);
  return {
    files: [`src/${folder}/**/*.ts`, `src/${folder}/**/*.tsx`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)+(${forbidden.join('|')})/`,
              message: `src/${folder}/ may import only ${may.join(', ') || 'nothing of src/'} (docs/architecture.md)`,
            },
            ...(sdks.length > 0 ? [{ group: sdks, message: 'an SDK is imported only in its adapter folder (docs/architecture.md)' }] : []),
          ],
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**', 'helm/**', 'test/fixtures/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_name` says "deliberately unused" (a destructured-away field, an interface's parameter)
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // tap queues a subtest itself: `t.test(...)` need not be awaited
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  ...importRules,
  {
    // The page renders attacker-controlled evidence: only ever as text (README "The evidence browser")
    files: ['src/ui/**/*.tsx', 'src/ui/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']", message: 'no HTML from strings: evidence is attacker-controlled' },
        {
          selector: 'AssignmentExpression > MemberExpression.left[property.name=/^(innerHTML|outerHTML)$/]',
          message: 'no HTML from strings: evidence is attacker-controlled',
        },
        {
          selector: 'CallExpression[callee.property.name=/^(insertAdjacentHTML|write|writeln|createContextualFragment)$/]',
          message: 'no HTML from strings: evidence is attacker-controlled',
        },
        {
          selector:
            "JSXAttribute[name.name='href'] > JSXExpressionContainer > :not(CallExpression[callee.name='captureHref'], CallExpression[callee.object.name='api'], TemplateLiteral)",
          message: 'links are built by captureHref or the api client, never from evidence',
        },
      ],
    },
  },
  {
    // tests reach into JSON answers and SDK shapes they assert on
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);

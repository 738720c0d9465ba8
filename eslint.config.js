// @ts-check
// The linter: typescript-eslint's recommended rules, the promise rules that need types (a
// floating promise in a capture pipeline is lost evidence or an unhandled rejection), and
// DESIGN's import rules (docs/architecture.md), so a folder cannot grow a dependency it may not have.
import tseslint from 'typescript-eslint';

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
    files: ['**/*.ts'],
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
  {
    // tests reach into JSON answers and SDK shapes they assert on
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);

// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'test/fhir-server/', 'test/artifacts/', 'public/vendor/', 'scratch-*'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/explicit-function-return-type': ['error', { allowExpressions: true, allowTypedFunctionExpressions: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      // fastify route handlers and plugins are async by convention even when they do not await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The floors below the CDS service and the HTTP layer (issue #13): the evaluator, the mappings, data
    // access, security, storage, the patient record and terminology never import cds/ or http/. What they
    // refuse they throw as an OperationOutcome (src/fhir/outcomes.ts); http/ chooses the status.
    files: ['src/engine/**/*.ts', 'src/mappings/**/*.ts', 'src/data/**/*.ts', 'src/security/**/*.ts', 'src/store/**/*.ts', 'src/patient/**/*.ts', 'src/terminology/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ regex: '^(\\.\\./)+(cds|http)/', message: 'a lower layer does not import cds/ or http/: move what both need down (e.g. src/data/prefetch-key.ts, src/fhir/outcomes.ts)' }],
      }],
    },
  },
  {
    // src/fhir/ holds FHIR-wide helpers (outcomes, ids) every layer may import, so it imports none of them.
    files: ['src/fhir/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./', message: 'src/fhir/ imports nothing of the project: every layer imports it' }] }],
    },
  },
  {
    // The demo page is plain browser JS with JSDoc types, checked by `tsc -p public` (npm run typecheck).
    files: ['public/**/*.js'],
    languageOptions: { globals: { document: 'readonly', window: 'readonly', crypto: 'readonly', performance: 'readonly', fetch: 'readonly', location: 'readonly', FileReader: 'readonly', URL: 'readonly', console: 'readonly' } },
    rules: { '@typescript-eslint/explicit-function-return-type': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/explicit-function-return-type': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Tests read response JSON loosely; the assertions are the types.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);

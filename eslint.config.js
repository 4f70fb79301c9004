// Lint: the one-way dependency rule (src -> engine, never engine -> src) is enforced here and in
// test/unit/layering.test.ts (every import form, all layers), not by convention. Inside engine/, types.ts and errors.ts are leaves that import nothing internal.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'schemas/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['engine/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['**/src/**', '../src/*', '../../src/*', '**/test/**'], message: 'engine/ must not import src/ or test/ (one-way rule: src -> engine)' }],
      }],
      // no-restricted-imports does not see import('...') (lazy loading, type imports): these do.
      // test/unit/layering.test.ts checks every form, and the rest of the layering, for all files.
      'no-restricted-syntax': ['error',
        { selector: 'ImportExpression > Literal[value=/(^|\\/)(src|test)\\//]', message: 'engine/ must not import src/ or test/ (one-way rule: src -> engine)' },
        { selector: 'TSImportType Literal[value=/(^|\\/)(src|test)\\//]', message: 'engine/ must not import src/ or test/ (one-way rule: src -> engine)' },
      ],
    },
  },
  {
    files: ['engine/types.ts', 'engine/errors.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['./*', '../*'], message: 'engine/types.ts and engine/errors.ts are leaves: they import nothing internal' }],
      }],
    },
  },
);

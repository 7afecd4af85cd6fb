// ESLint for the TypeScript (lib/, test/, bench/, examples/) and the project's JavaScript
// (scripts/, configs): typescript-eslint's strict rules on top of ESLint's recommended ones.
// Formatting is prettier's (.prettierrc.json); no rule here checks layout.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', '.vm-work/', '.jest-cache-guest/', 'native/', 'kernel/', 'vm/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    files: ['**/*.ts'],
    rules: {
      // Unused names fail the compile (tsconfig: noUnusedLocals, noUnusedParameters); the
      // rule would report the same names a second time.
      '@typescript-eslint/no-unused-vars': 'off',
      // Code narrows (a checked lookup, a captured value, an early typed throw, `must` in tests)
      // instead of asserting non-null with `!`.
      '@typescript-eslint/no-non-null-assertion': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        __filename: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
    rules: {
      // CommonJS is how these scripts load (node runs them without a build step).
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
);

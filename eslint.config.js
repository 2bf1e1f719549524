import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'build/**', 'bin/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/drivers/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['**/broker/**', '**/bridge/**'] }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['../*', '!./*'] }],
    },
  },
  {
    files: ['src/bridge/**/*.ts', 'src/store-forward/**/*.ts', 'src/status/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['**/broker/**', '**/drivers/**'] }],
    },
  },
)

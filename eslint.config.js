// ESLint flat config: typescript-eslint's recommended rules for src/, test/ and scripts/, and
// the architecture rule (pure core, thin edges) as an import restriction.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The pure core (docs/architecture.md): decides verdicts, touches no network, process or clock. */
const CORE = ['tokens', 'config', 'workload', 'rules', 'findings', 'policy', 'mutation', 'runner'];
/** The adapters and the process wiring, which the core must never import. */
const EDGES = ['server', 'cli', 'kube', 'gitlab', 'certs', 'metrics', 'settings', 'admission'];
/** Packages that would bring I/O into the core. */
const EDGE_PACKAGES = [
  'fastify',
  '@kubernetes/client-node',
  '@gitbeaker/rest',
  'pino',
  'prom-client',
  'node-forge',
];

// Relative imports only: a file n folders below src/ reaches src/<edge>/ through exactly n `../`.
// (`src/rules/gitlab/` is core, `src/gitlab/` is an adapter, so a path glob cannot tell them apart.)
const coreAtDepth = (depth) => ({
  files: CORE.map((dir) => `src/${dir}/${'*/'.repeat(depth - 1)}*.ts`),
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths: EDGE_PACKAGES.map((name) => ({
          name,
          message: 'the pure core does no I/O; this belongs in an adapter',
        })),
        patterns: [
          {
            regex: `^(\\.\\./){${depth}}(${EDGES.join('|')})(/|$)`,
            message:
              'the pure core (tokens, config, workload, rules, findings, policy, mutation, runner) never imports an adapter or the process wiring; pass what it needs as data (docs/architecture.md)',
          },
        ],
      },
    ],
  },
});

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'coverage/',
      '.tap/',
      'node_modules/',
      'charts/',
      'certs/',
      'bench-results/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        performance: 'readonly',
        fetch: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
      },
    },
    rules: {
      // `_name` marks an argument a signature requires but the body does not use.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
    },
  },
  {
    // Tests reach into loosely typed JSON (AdmissionReviews, fixtures) on purpose, and match
    // control characters (ANSI colours, C0 bytes) to prove they never reach the output.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'no-control-regex': 'off' },
  },
  {
    // The serving process talks to the API through src/kube/client.ts: client-node's generated
    // API modules load as one graph and cost ~50 MB of RSS (README, "Versions"). Only the
    // CLI's `scan` (src/cli/scan.ts, src/kube/list.ts) uses client-node. Placed before the
    // core's blocks, which replace this rule for their files (and forbid the package there too).
    files: ['src/**/*.ts'],
    ignores: ['src/cli/scan.ts', 'src/cli/scan/**', 'src/kube/list.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@kubernetes/client-node',
              message:
                'the server reaches the API through src/kube/client.ts; client-node is for the CLI scan only',
            },
          ],
        },
      ],
    },
  },
  coreAtDepth(1),
  coreAtDepth(2),
  coreAtDepth(3),
);

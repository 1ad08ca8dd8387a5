export type {
  LoadProblem,
  ParsedRunnerConfig,
  RunnerEntry,
  TomlError,
  UnknownKey,
} from './types.js';
export { parseRunnerConfig, isRunnerConfig, parseToml } from './parse.js';
export { foldKey, keysForField } from './fold.js';
export { isTemplateSource } from './template.js';
export { CONFIG_SCHEMA, RUNNER_SCHEMA, lookupKey, nearestKey, editDistance } from './known-keys.js';
export type { KeyKind, TableSchema } from './known-keys.js';

export type { ParsedRunnerConfig, RunnerEntry, TomlError, UnknownKey } from './types.js';
export { parseRunnerConfig, looksLikeRunnerConfig } from './parse.js';
export { isTemplateSource } from './template.js';
export { CONFIG_SCHEMA, RUNNER_SCHEMA, lookupKey, nearestKey, editDistance } from './known-keys.js';
export type { KeyKind, TableSchema } from './known-keys.js';

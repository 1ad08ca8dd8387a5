export * from './types.js';
export {
  analyzeWorkload,
  getPodSpec,
  isRunnerImage,
  parseImage,
  resolvePath,
  keysAt,
  runProvenance,
  flagOf,
  reservedNonDefault,
  RESERVED_OPTIONS,
  ROOT_CONFIG,
  NONROOT_CONFIG,
  type ImageRef,
  type RunProvenance,
} from './analyze.js';
export { parseScript, variableOf, shellInvocation, stripWrappers, type SimpleCommand, type Word } from './shell.js';

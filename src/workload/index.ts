export * from './types.js';
export { analyzeWorkload } from './workload.js';
export { getPodSpec, resolvePath, normalizePath, ROOT_CONFIG, NONROOT_CONFIG } from './pod.js';
export { isRunnerImage, parseImage, type ImageRef } from './image.js';
export { flagOf, reservedNonDefault, RESERVED_OPTIONS } from './command-line.js';
export { keysAt, runProvenance, type RunProvenance } from './provenance.js';
export {
  parseScript,
  variableOf,
  shellInvocation,
  stripWrappers,
  type SimpleCommand,
  type Word,
} from './shell.js';

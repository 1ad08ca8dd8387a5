export { workloadFindings, workloadFindingsFor } from './check.js';
export * from './rules.js';

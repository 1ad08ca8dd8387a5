/** Types for hostile.mjs (plain ESM so scripts/bench.mjs can import it without a TypeScript loader). */
export type Review = {
  request: { uid: string; object: unknown; [k: string]: unknown };
  [k: string]: unknown;
};
export const REGISTRATION_TOKEN: string;
export function copyStorm(inits?: number, runs?: number): Review;
export function wideCopy(operands?: number, mounts?: number): Review;
export function huge(): Review;
export function padded(bytes?: number): Review;
export function bigArrayConfigMap(elements?: number): Review;
export function bigJsonArray(elements?: number): Review;
export const HOSTILE: { name: string; make(): Review }[];
export function bytes(review: Review): number;

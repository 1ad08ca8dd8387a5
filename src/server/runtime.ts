/**
 * How the webhook's process is started wherever its memory and latency matter: the image
 * (Dockerfile ENV), `npm start`, `npm run bench` and the tests that measure it. Kept here once;
 * test/unit/runtime.test.ts checks the Dockerfile and package.json against it.
 */

/**
 * V8, main thread (worker threads have their own limits, src/server/review-pool.ts):
 * - a 4 MiB semi-space keeps the young generation (and RSS) small at a few hundred reviews/s;
 * - a 128 MiB old generation: V8 sizes its heap growth by the limit, and without one it let the
 *   old generation grow to 50-60 MiB under sustained /mutate load and kept it (RSS 171 MB after
 *   `npm run bench`'s scenarios, 127 MB with the limit; /mutate throughput 12.1k → 9.9k req/s on
 *   2 CPUs). The live heap is 20-50 MiB (more with the Kubernetes client loaded), far below it.
 */
export const NODE_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=128'] as const;

/**
 * glibc malloc, measured with the hostile objects of issue 14 (docs/operations.md "Bounded cost"):
 * - MALLOC_ARENA_MAX: every thread that allocates gets an arena of its own, up to 8 per CPU, and
 *   an arena keeps what it freed; each review worker that was cut and replaced left one behind.
 * - MALLOC_MMAP_THRESHOLD_: glibc raises its mmap threshold (to up to 32 MiB) each time a large
 *   block is freed, so after the first multi-megabyte request body the next ones came from the
 *   arenas and fragmented them. A fixed threshold keeps them in mmap, unmapped when freed.
 * Peak RSS over three rounds of the five hostile objects: 199-210 MiB without, 175-196 with.
 */
export const MALLOC_ENV = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
} as const;

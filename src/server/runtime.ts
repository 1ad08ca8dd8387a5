/**
 * How the webhook's process is started wherever its memory and latency matter: the image
 * (Dockerfile ENV), `npm start`, `npm run bench` and the tests that measure it. Kept here once;
 * test/unit/runtime.test.ts checks the Dockerfile and package.json against it.
 */

/**
 * V8, main thread (worker threads have their own limits, src/server/review-pool.ts): a 4 MiB
 * semi-space keeps the young generation (and RSS) small at a few hundred reviews/s.
 *
 * Not here: --max-old-space-size. A 128 MiB cap held RSS after sustained /mutate load at 127 MB
 * instead of 171, but the process then died of "JavaScript heap out of memory" while loading
 * @kubernetes/client-node at start (the chart's configuration: its generated API modules take
 * the heap past 127 MiB while they load), caught by test/cluster/chart.test.ts.
 */
export const NODE_FLAGS = ['--max-semi-space-size=4'] as const;

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

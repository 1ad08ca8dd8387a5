/**
 * How the webhook's process is started wherever its memory and latency matter: the image
 * (Dockerfile ENV), `npm start`, `npm run bench` and the tests that measure it. Kept here once;
 * test/unit/runtime.test.ts checks the Dockerfile and package.json against it.
 */

/**
 * V8, main thread (worker threads have their own limits, src/server/review-pool.ts):
 * - a 4 MiB semi-space keeps the young generation (and RSS) small at a few hundred reviews/s;
 * - a 160 MiB old generation: left to itself, V8 grew the main isolate's old generation under
 *   minutes of sustained load and kept it (RSS 174-178 MB after 40 s of /validate and /mutate at
 *   10 connections, so the hostile objects sent then peaked at 218-221 MiB). With the cap: RSS
 *   121-126 MB after the same load, peak 174-181 MiB, no throughput difference beyond this VM's
 *   noise (docs/operations.md "Bounded cost"). 128 MiB measured the same; 160 leaves room. The
 *   main isolate holds ~14 MiB after start (fastify, pino, prom-client, node-forge, gitbeaker);
 *   the cap was unsafe only while the server loaded @kubernetes/client-node, whose module graph
 *   took the heap past 127 MiB at start (README "Versions").
 */
export const NODE_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=160'] as const;

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

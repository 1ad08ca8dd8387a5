/**
 * How many JSON values a body holds, counted on its bytes before anything parses it, and given up
 * once past `limit`: a bound on the memory a parse can take, which a byte limit alone is not.
 * Three megabytes of `{},{},...` are a million objects: parsing them took a worker to its heap
 * limit, and V8's parser mallocs a handle per element and a growing element vector beside the
 * heap, which glibc kept after the worker was terminated (peak RSS 214-218 MiB for back-to-back
 * bodies of that shape; docs/operations.md "Bounded cost").
 *
 * Checked on the event loop before a worker is involved (src/server/app.ts), so such a body is
 * answered at once: 1-7 ms for 0.6-3 MB warm, ~11 ms for 3 MB on the first call.
 *
 * Counted: every `[`, `{` and `,` outside strings: about one per value in a container, two
 * for a container in a container (8,000 empty objects in an array count 16,000). No Kubernetes object needs hundreds of thousands of them: the largest hostile
 * workload of issue 14 (2.6 MB, 2,500 init containers and 1,200 runners as deeply nested
 * objects) has 176,000; a config.toml is one string, however long.
 */
export function exceedsJsonValues(bytes: Uint8Array, limit: number): boolean {
  let count = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === 0x5c)
        i++; // a backslash escapes the next byte (\" \\ \u...)
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x2c || b === 0x5b || b === 0x7b) {
      if (++count > limit) return true;
    }
  }
  return false;
}

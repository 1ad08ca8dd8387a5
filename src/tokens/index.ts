export type { AuthForm, Classification, PlaceholderIntent, TokenClass } from './types.js';
export { classifyToken } from './classify.js';
export { describeToken, escapeInvisible, redactSecrets, redactToken } from './redact.js';
export { crc32, crc32Base36 } from './crc.js';
export { OTHER_GITLAB_PREFIXES, parseRoutable } from './shape.js';
export { isGitlabToken, isPlaceholderLike, isPrefixedToken, isRealToken } from './predicates.js';

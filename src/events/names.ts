/**
 * What a topic, group, producer or consumer name may be: letters, digits,
 * `_ . -`, starting with a letter or digit. Such names go into Redis keys
 * (src/streams/keys.ts) and into envelopes, so no braces (Cluster hash
 * tags), colons (key separators) or spaces.
 */
export const KEY_PART_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

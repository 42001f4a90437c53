/**
 * The ESS command body (trip, reset, flatten): strict, and `operator` /
 * `reason` are plain text, since they go into the audit trail and the logs.
 */
import test from 'ava';
import { parseEssCommand, unsafeCharacter } from '../../../src/actors/risk-safety/ess-commands.js';

const ok = { operator: 'alice', reason: 'drill' };

test('a body of operator and reason is accepted, trimmed; any Unicode text is fine', (t) => {
  t.deepEqual(parseEssCommand({ operator: '  alice ', reason: ' drill ' }), { ok: true, body: ok });
  t.deepEqual(parseEssCommand({ operator: 'Zoë 日本', reason: 'café ☕ 🚨 עברית' }), {
    ok: true,
    body: { operator: 'Zoë 日本', reason: 'café ☕ 🚨 עברית' },
  });
});

test('unknown fields are refused by name', (t) => {
  const parsed = parseEssCommand({ ...ok, force: true, cooldownMs: 0 });
  t.false(parsed.ok);
  if (parsed.ok) return;
  t.deepEqual(parsed.answer.unknownFields, ['force', 'cooldownMs']);
  t.regex(parsed.answer.message, /unknown field\(s\): force, cooldownMs/);
});

const refused: [string, string][] = [
  ['a newline (a forged log line)', 'ops\n{"level":60,"msg":"forged"}'],
  ['a trailing newline', 'ops\n'],
  ['a tab', 'o\tps'],
  ['NUL', 'o\u0000ps'],
  ['DEL', 'o\u007fps'],
  ['a C1 control (NEL)', 'o\u0085ps'],
  ['ESC (terminal sequences)', '\u001b[31mops'],
  ['RIGHT-TO-LEFT OVERRIDE', 'ops\u202Egnp.exe'],
  ['LEFT-TO-RIGHT EMBEDDING', '\u202Aops'],
  ['POP DIRECTIONAL FORMATTING', 'ops\u202C'],
  ['RIGHT-TO-LEFT ISOLATE', 'ops\u2067x'],
  ['POP DIRECTIONAL ISOLATE', 'ops\u2069'],
  ['a lone high surrogate', 'ops\ud800'],
  ['a lone low surrogate', '\udc00ops'],
  ['LINE SEPARATOR', 'ops\u2028x'],
  ['PARAGRAPH SEPARATOR', 'ops\u2029x'],
];

for (const [what, text] of refused) {
  test(`operator and reason refuse ${what}`, (t) => {
    t.truthy(unsafeCharacter(text), 'flagged');
    for (const field of ['operator', 'reason'] as const) {
      const parsed = parseEssCommand({ ...ok, [field]: text });
      t.false(parsed.ok, field);
      if (parsed.ok) continue;
      t.deepEqual(
        parsed.answer.issues.map((i) => i.path.join('.')),
        [field],
      );
      t.regex(parsed.answer.message, new RegExp(`^${field}: must not contain .* \\(found U\\+[0-9A-F]{4}\\)$`));
    }
  });
}

test('a missing or blank field, or one too long, is refused with its name', (t) => {
  for (const [body, field] of [
    [{ operator: 'alice' }, 'reason'],
    [{ reason: 'drill' }, 'operator'],
    [{ operator: '   ', reason: 'drill' }, 'operator'],
    [{ operator: 'alice', reason: 'x'.repeat(501) }, 'reason'],
    [{ operator: 'a'.repeat(65), reason: 'drill' }, 'operator'],
    [{ operator: 7, reason: 'drill' }, 'operator'],
  ] as const) {
    const parsed = parseEssCommand(body);
    t.false(parsed.ok);
    if (!parsed.ok)
      t.deepEqual(
        parsed.answer.issues.map((i) => i.path[0]),
        [field],
        JSON.stringify(body),
      );
  }
  t.false(parseEssCommand(undefined).ok);
  t.false(parseEssCommand('alice').ok);
});

test('a surrogate pair (an emoji) is one valid character, not two lone ones', (t) => {
  t.is(unsafeCharacter('🚨'), undefined);
  t.is(unsafeCharacter('\ud83d\udea8'), undefined);
  t.is(unsafeCharacter('\ud83d'), 'U+D83D');
});

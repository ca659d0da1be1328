import { describe, expect, it } from '@jest/globals';
import { printable, printableMessage } from './printable.js';

describe('printable', () => {
  it('escapes every control character, so a value from outside cannot forge a line or drive the terminal', () => {
    expect(printable('a\nb\rc\td\u001b[31me\u0000f\u2028g')).toBe('a\\nb\\rc\\td\\u001b[31me\\u0000f\\u2028g');
    expect(printable('presence.session.alice.joined')).toBe('presence.session.alice.joined');
  });

  it('the logger keeps the newlines of its own multi-line messages and escapes the rest', () => {
    expect(printableMessage('Error: x\n    at f (a.js:1)\u001b]0;pwned\u0007')).toBe('Error: x\n    at f (a.js:1)\\u001b]0;pwned\\u0007');
  });
});

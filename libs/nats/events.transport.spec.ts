import { describe, it, expect } from '@jest/globals';
import { subjectMatches } from './events.transport.js';

describe('subjectMatches', () => {
  it.each([
    // literal tokens
    ['presence.session.alice.joined', 'presence.session.alice.joined', true],
    ['presence.session.alice.joined', 'presence.session.bob.joined', false],
    ['presence.session.alice.joined', 'presence.session.alice.left', false],
    // `*` matches exactly one token
    ['presence.session.*.joined', 'presence.session.alice.joined', true],
    ['presence.session.*.joined', 'presence.session.alice.left', false],
    ['presence.session.*.joined', 'presence.session.joined', false],
    ['presence.session.*.joined', 'presence.session.a.b.joined', false],
    ['presence.*', 'presence', false],
    ['*', 'presence', true],
    ['*.*', 'a.b', true],
    // `>` matches one or more trailing tokens
    ['presence.session.>', 'presence.session.alice.joined', true],
    ['presence.session.>', 'presence.session.alice', true],
    ['presence.session.>', 'presence.session', false],
    ['presence.session.>', 'presence.user.alice.online', false],
    ['>', 'anything.at.all', true],
    ['presence.*.>', 'presence.user.alice.online', true],
    ['presence.*.>', 'presence.user', false],
    // lengths must match
    ['presence.session', 'presence.session.alice', false],
    ['presence.session.alice', 'presence.session', false],
  ])('%s vs %s -> %p', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});

import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { asyncApiDocument } from './asyncapi.js';
import { EVENTS } from './events.js';
import { CLIENT_EVENTS } from './socket-events.js';

const root = resolve(import.meta.dirname, '..', '..');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

describe('docs/asyncapi.json', () => {
  const doc = asyncApiDocument(version) as Record<string, Record<string, Record<string, unknown>>>;

  it('is current: what `npm run asyncapi` generates from the schemas today', () => {
    const checkedIn = readFileSync(join(root, 'docs', 'asyncapi.json'), 'utf8');
    expect(checkedIn).toBe(`${JSON.stringify(doc, null, 2)}\n`);
  });

  it('describes every NATS event the apps publish and every socket event, each with its payload schema', () => {
    for (const kind of Object.keys(EVENTS)) expect(doc.components.messages[kind]).toMatchObject({ payload: expect.objectContaining({ type: 'object' }) });
    const socket = doc.channels['socket.presence'].messages as Record<string, unknown>;
    for (const ev of [...CLIENT_EVENTS, 'manager', 'presence_state', 'presence_diff', 'session']) expect(socket[ev]).toBeDefined();
  });

  it('names a parameter for every {placeholder} of a channel address, and every $ref resolves', () => {
    for (const channel of Object.values(doc.channels)) {
      const placeholders = [...String(channel.address).matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect(Object.keys((channel.parameters as object | undefined) ?? {})).toEqual(placeholders);
    }
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) {
      const target = ref.split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
      expect([ref, target !== undefined]).toEqual([ref, true]);
    }
  });
});

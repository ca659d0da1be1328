import { describe, expect, it } from '@jest/globals';
import { originAllowed } from './origin-check.js';

describe('originAllowed', () => {
  it('no Origin header is not a browser: allowed', () => {
    expect(originAllowed(undefined, 'gw:3000', [])).toBe(true);
  });

  it('by default only the gateway’s own origin', () => {
    expect(originAllowed('http://gw:3000', 'gw:3000', [])).toBe(true);
    expect(originAllowed('https://gw:3000', 'GW:3000', [])).toBe(true);
    expect(originAllowed('https://evil.example', 'gw:3000', [])).toBe(false);
    expect(originAllowed('http://gw:3001', 'gw:3000', [])).toBe(false);
    expect(originAllowed('null', 'gw:3000', [])).toBe(false);
  });

  it('CORS_ORIGINS adds origins; * allows any', () => {
    expect(originAllowed('https://app.example.com', 'gw:3000', ['https://app.example.com'])).toBe(true);
    expect(originAllowed('https://app.example.com.evil', 'gw:3000', ['https://app.example.com'])).toBe(false);
    expect(originAllowed('https://anything', 'gw:3000', ['*'])).toBe(true);
  });
});

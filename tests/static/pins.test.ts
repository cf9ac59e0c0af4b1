// `npm run pins:check` reads PyPI; what it concludes from PyPI's answer is checked here offline.
import { describe, expect, it } from 'vitest';
import { FORBIDDEN_LITELLM, pinReport } from '../../lib/pins.ts';

const file = { yanked: false };
const yanked = { yanked: true };

describe('pinReport (npm run pins:check)', () => {
  it('lists the newer patches of the pinned line, oldest first, and the newest release of any line', () => {
    const releases = {
      '1.108.10': [file],
      '1.108.12': [file],
      '1.108.14': [file],
      '1.108.13': [file],
      '1.109.0': [file],
      '1.110.2': [file, file],
      '1.108.15rc1': [file],
    };
    expect(pinReport('v1.108.12', releases)).toEqual({
      pinned: '1.108.12',
      newerPatches: ['1.108.13', '1.108.14'],
      newest: '1.110.2',
      skipped: [],
    });
  });

  it('reports a pin that is the newest of its line as such', () => {
    expect(pinReport('0.12.4', { '0.12.3': [file], '0.12.4': [file] })).toMatchObject({ newerPatches: [], newest: '0.12.4' });
  });

  it('never suggests a yanked or compromised release, and says it skipped it', () => {
    const releases = { '1.107.0': [file], '1.107.1': [yanked], '1.107.2': [file], '1.106.9': [yanked] };
    const r = pinReport('1.106.3', releases, FORBIDDEN_LITELLM);
    expect(r.newest).toBe('1.107.2');
    expect(r.skipped).toEqual(['1.106.9', '1.107.0', '1.107.1']);
    expect(pinReport('1.107.0', releases, FORBIDDEN_LITELLM).newerPatches).toEqual(['1.107.2']);
  });

  it('refuses a pin that is not a plain version', () => {
    expect(() => pinReport('latest', {})).toThrow(/not a plain version/);
  });
});

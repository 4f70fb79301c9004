import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withTable, supportTable } from '../../../src/kube/fields-table.js';

describe('README supported-fields table', () => {
  it('is the one made from the planner (run `npm run fields-table` after changing plan.ts)', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
    expect(readme).toBe(withTable(readme));
  });
  it('says what is supported, what is noted, and what is an error', () => {
    const t = supportTable();
    expect(t).toContain('| Pod `spec.nodeSelector` | n/a: accepted with a note | n/a |');
    expect(t).toContain('| Deployment `spec.replicas` | yes | forced to 1 |');
    expect(t).toMatch(/\| container `volumeDevices` \| no: an error names it \| no \|/);
    expect(t).toContain('| container `startupProbe` | yes | no |');
    expect(t).toContain('| Pod `spec.resources` | yes: limits, requests | no |');
  });
});

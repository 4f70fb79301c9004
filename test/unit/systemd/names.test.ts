import { describe, it, expect } from 'vitest';
import { checkUnitName, isServiceName } from '../../../src/systemd/names.js';

describe('service unit names read back from records', () => {
  it.each(['pod-web.service', 'container-a_b.c.service', 'peapod-kube@-tmp-x\\x2dy.yaml.service', 'a:b.service'])('%s is valid', (n) => {
    expect(isServiceName(n)).toBe(true);
  });
  it.each([
    '', '--help', '--user.service', '-x.service', 'web', 'web.timer', 'web.service ', 'a b.service', 'a;b.service',
    'x.service\n--now', 'a@.service', 'a@b@c.service', 'a/b.service', '$(id).service', `${'a'.repeat(250)}.service`,
  ])('%j is refused', (n) => {
    expect(isServiceName(n)).toBe(false);
    expect(() => checkUnitName(n, 'auto-updating container "c": label L')).toThrow(/^auto-updating container "c": label L: ".*" is not a valid systemd service unit name$/s);
  });
});

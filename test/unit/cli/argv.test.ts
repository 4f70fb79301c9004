import { describe, it, expect } from 'vitest';
import { normalizeArgv } from '../../../src/cli/argv.js';

const n = (...a: string[]) => normalizeArgv(['node', 'peapod', ...a]).slice(2);

describe('normalizeArgv', () => {
  it('`container X` is the top-level X, after global flags with values', () => {
    expect(n('container', 'rm', '-f', 'x')).toEqual(['rm', '-f', 'x']);
    expect(n('--root', '/r', '--runroot', '/rr', 'container', 'inspect', 'c')).toEqual(['--root', '/r', '--runroot', '/rr', 'inspect', 'c']);
    expect(n('--root=/r', 'container', 'stop', 'c')).toEqual(['--root=/r', 'stop', 'c']);
    expect(n('container', 'exists', 'c')).toEqual(['container', 'exists', 'c']);
  });
  it('leaves container commands of its own and other words alone', () => {
    expect(n('container', 'cleanup', 'id')).toEqual(['container', 'cleanup', 'id']);
    expect(n('container', 'ls')).toEqual(['container', 'ls']);
    expect(n('run', 'img', 'container', 'rm')).toEqual(['run', 'img', 'container', 'rm']);
    expect(n('--root', 'container', 'rm')).toEqual(['--root', 'container', 'rm']);
  });
  it('Go\'s --flag=true|false of the boolean flags Podman scripts spell that way', () => {
    expect(n('pod', 'create', '--infra=false')).toEqual(['pod', 'create', '--no-infra']);
    expect(n('pod', 'create', '--infra=true', '--name=p')).toEqual(['pod', 'create', '--infra', '--name=p']);
    expect(n('generate', 'systemd', '--new=false', '--template', 'c')).toEqual(['generate', 'systemd', '--no-new', '--template', 'c']);
    // flags with values are left alone
    expect(n('run', '--label=false', 'img')).toEqual(['run', '--label=false', 'img']);
  });
  it('Podman\'s log level "warning" and kubectl\'s --wait=ready', () => {
    expect(n('--log-level', 'warning', 'ps')).toEqual(['--log-level', 'warn', 'ps']);
    expect(n('--log-level=warning', 'ps')).toEqual(['--log-level=warn', 'ps']);
    expect(n('play', 'kube', '--wait=ready', 'f')).toEqual(['play', 'kube', '--wait-ready', 'f']);
  });
});

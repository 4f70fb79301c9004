import { describe, expect, it } from 'vitest';
import { resolveArgs, resolveKubeArgs, type ImageCommand } from '../../../engine/runtime/command.js';
import { PeapodError } from '../../../engine/errors.js';

const EP: ImageCommand = { Entrypoint: ['/ep-1'], Cmd: ['foo', 'bar'] };

describe('resolveKubeArgs: the Kubernetes docs table', () => {
  // "Define a Command and Arguments for a Container": image Entrypoint [/ep-1], Cmd [foo bar].
  const cases: Array<{ name: string; image: ImageCommand; kube: { command?: string[]; args?: string[] }; expected: string[] }> = [
    { name: 'command and args not set: image defaults', image: EP, kube: {}, expected: ['/ep-1', 'foo', 'bar'] },
    { name: 'command only: Entrypoint and Cmd ignored', image: EP, kube: { command: ['/ep-2'] }, expected: ['/ep-2'] },
    { name: 'args only: image Entrypoint with the args', image: EP, kube: { args: ['zoo', 'boo'] }, expected: ['/ep-1', 'zoo', 'boo'] },
    { name: 'command and args: both from the pod', image: EP, kube: { command: ['/ep-2'], args: ['zoo', 'boo'] }, expected: ['/ep-2', 'zoo', 'boo'] },
    // notes around the table
    { name: 'image without Entrypoint, args only: args alone', image: { Cmd: ['sh'] }, kube: { args: ['echo', 'hi'] }, expected: ['echo', 'hi'] },
    { name: 'image without Entrypoint, nothing set: Cmd', image: { Entrypoint: null, Cmd: ['sh'] }, kube: {}, expected: ['sh'] },
    { name: 'empty command and args count as not set', image: EP, kube: { command: [], args: [] }, expected: ['/ep-1', 'foo', 'bar'] },
    { name: 'command with empty args', image: EP, kube: { command: ['/ep-2'], args: [] }, expected: ['/ep-2'] },
    { name: 'image Entrypoint [""] is none', image: { Entrypoint: [''], Cmd: ['sh'] }, kube: {}, expected: ['sh'] },
  ];
  it.each(cases)('$name', ({ image, kube, expected }) => {
    expect(resolveKubeArgs(image, kube)).toEqual(expected);
  });

  const errors: Array<{ name: string; image: ImageCommand; kube: { command?: string[]; args?: string[] } }> = [
    { name: 'empty image, nothing set', image: {}, kube: {} },
    { name: 'null image fields', image: { Entrypoint: null, Cmd: null }, kube: { command: [] } },
  ];
  it.each(errors)('fails: $name', ({ image, kube }) => {
    const fn = () => resolveKubeArgs(image, kube);
    expect(fn).toThrow(PeapodError);
    expect(fn).toThrow('no command specified');
  });
});

describe('resolveArgs: podman/docker run', () => {
  const cases: Array<{ name: string; image: ImageCommand; override: { entrypoint?: string[]; cmd?: string[] }; expected: string[] }> = [
    { name: 'image defaults', image: EP, override: {}, expected: ['/ep-1', 'foo', 'bar'] },
    { name: 'cmd replaces the image Cmd', image: EP, override: { cmd: ['zoo'] }, expected: ['/ep-1', 'zoo'] },
    { name: 'entrypoint clears the image Cmd', image: EP, override: { entrypoint: ['/ep-2'] }, expected: ['/ep-2'] },
    { name: 'entrypoint and cmd', image: EP, override: { entrypoint: ['/ep-2'], cmd: ['zoo'] }, expected: ['/ep-2', 'zoo'] },
    { name: 'entrypoint "" with cmd: cmd alone', image: EP, override: { entrypoint: [''], cmd: ['sh'] }, expected: ['sh'] },
    { name: 'entrypoint [] with cmd: cmd alone', image: EP, override: { entrypoint: [], cmd: ['sh'] }, expected: ['sh'] },
    { name: 'empty cmd keeps the image Cmd', image: EP, override: { cmd: [] }, expected: ['/ep-1', 'foo', 'bar'] },
    { name: 'image without Entrypoint', image: { Cmd: ['sh'] }, override: {}, expected: ['sh'] },
    { name: 'image without Entrypoint, cmd given', image: { Cmd: ['sh'] }, override: { cmd: ['ls', '-l'] }, expected: ['ls', '-l'] },
    { name: 'image Entrypoint [""] is none', image: { Entrypoint: [''], Cmd: ['sh'] }, override: {}, expected: ['sh'] },
    { name: 'image Entrypoint only', image: { Entrypoint: ['/init'], Cmd: null }, override: {}, expected: ['/init'] },
  ];
  it.each(cases)('$name', ({ image, override, expected }) => {
    expect(resolveArgs(image, override)).toEqual(expected);
  });

  const errors: Array<{ name: string; image: ImageCommand; override: { entrypoint?: string[]; cmd?: string[] } }> = [
    { name: 'empty image, nothing given', image: {}, override: {} },
    { name: 'entrypoint "" clears the image Cmd', image: { Cmd: ['sh'] }, override: { entrypoint: [''] } },
    { name: 'entrypoint [] clears the image Cmd', image: EP, override: { entrypoint: [] } },
  ];
  it.each(errors)('fails: $name', ({ image, override }) => {
    const fn = () => resolveArgs(image, override);
    expect(fn).toThrow(PeapodError);
    expect(fn).toThrow('no command specified');
  });

  it('does not alias the image arrays', () => {
    const image = { Entrypoint: ['/ep'], Cmd: ['a'] };
    const argv = resolveArgs(image, {});
    argv.push('x');
    expect(image).toEqual({ Entrypoint: ['/ep'], Cmd: ['a'] });
  });
});

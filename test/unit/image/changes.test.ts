import { describe, expect, it } from 'vitest';
import { PeapodError } from '../../../engine/errors.js';
import { applyChanges } from '../../../engine/image/changes.js';

function invalid(changes: string[]): PeapodError {
  try {
    applyChanges({}, changes);
  } catch (e) {
    expect(e).toBeInstanceOf(PeapodError);
    expect((e as PeapodError).code).toBe('invalid');
    return e as PeapodError;
  }
  throw new Error(`expected ${JSON.stringify(changes)} to be rejected`);
}

describe('applyChanges (import --change)', () => {
  it('CMD and ENTRYPOINT: JSON form as is, shell form through /bin/sh -c', () => {
    expect(applyChanges({}, ['CMD ["/bin/echo","hi there"]']).Cmd).toEqual(['/bin/echo', 'hi there']);
    expect(applyChanges({}, ['CMD echo "$HOME" && ls']).Cmd).toEqual(['/bin/sh', '-c', 'echo "$HOME" && ls']);
    expect(applyChanges({}, ['ENTRYPOINT ["/bin/sh","-c"]']).Entrypoint).toEqual(['/bin/sh', '-c']);
    expect(applyChanges({}, ['ENTRYPOINT top -b']).Entrypoint).toEqual(['/bin/sh', '-c', 'top -b']);
    expect(applyChanges({ Entrypoint: ['x'] }, ['ENTRYPOINT ']).Entrypoint).toEqual([]);
    // Not a JSON array of strings: shell form, as Docker does.
    expect(applyChanges({}, ['CMD [1, 2]']).Cmd).toEqual(['/bin/sh', '-c', '[1, 2]']);
  });

  it('accepts Podman\'s "INSTRUCTION=value" spelling and any case', () => {
    expect(applyChanges({}, ['CMD=/bin/true']).Cmd).toEqual(['/bin/sh', '-c', '/bin/true']);
    expect(applyChanges({}, ['workdir /srv']).WorkingDir).toBe('/srv');
  });

  it('ENV: K=V pairs with quotes, the legacy "K V" form, later values replace earlier ones', () => {
    const c = applyChanges({ Env: ['PATH=/bin', 'A=old'] }, [
      'ENV A=new B="two words" C=\'x y\' D=e\\ f',
      'ENV GREETING hello world',
      'ENV EMPTY=',
    ]);
    expect(c.Env).toEqual(['PATH=/bin', 'A=new', 'B=two words', 'C=x y', 'D=e f', 'GREETING=hello world', 'EMPTY=']);
    expect(invalid(['ENV']).message).toMatch(/ENV needs/);
    expect(invalid(['ENV =x']).message).toMatch(/key=value/);
    expect(invalid(['ENV A="unterminated']).message).toMatch(/unterminated double quote/);
  });

  it('WORKDIR resolves against the previous one and "/"', () => {
    expect(applyChanges({}, ['WORKDIR /a', 'WORKDIR b', 'WORKDIR ../c']).WorkingDir).toBe('/a/c');
    expect(applyChanges({}, ['WORKDIR app']).WorkingDir).toBe('/app');
  });

  it('USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL, ONBUILD', () => {
    const c = applyChanges({}, [
      'USER 1000:1000',
      'LABEL a=b "c d"="e f"',
      'LABEL version 1.0',
      'EXPOSE 80 53/udp 8000-8001/TCP',
      'VOLUME ["/data", "/logs"]',
      'VOLUME /cache /tmp/x',
      'STOPSIGNAL term',
      'ONBUILD RUN true',
    ]);
    expect(c.User).toBe('1000:1000');
    expect(c.Labels).toEqual({ a: 'b', 'c d': 'e f', version: '1.0' });
    expect(Object.keys(c.ExposedPorts ?? {}).sort()).toEqual(['53/udp', '80/tcp', '8000/tcp', '8001/tcp']);
    expect(Object.keys(c.Volumes ?? {}).sort()).toEqual(['/cache', '/data', '/logs', '/tmp/x']);
    expect(c.StopSignal).toBe('SIGTERM');
    expect(c.OnBuild).toEqual(['RUN true']);
    expect(applyChanges({}, ['STOPSIGNAL 9']).StopSignal).toBe('9');
    expect(applyChanges({}, ['STOPSIGNAL SIGRTMIN+3']).StopSignal).toBe('SIGRTMIN+3');
  });

  it('rejects bad values, naming the change', () => {
    expect(invalid(['EXPOSE 70000']).message).toBe('invalid change "EXPOSE 70000": EXPOSE port "70000" is not a valid port number or range');
    expect(invalid(['EXPOSE 80/icmp']).message).toMatch(/tcp, udp or sctp/);
    expect(invalid(['EXPOSE http']).message).toMatch(/PORT\[\/PROTO\]/);
    expect(invalid(['STOPSIGNAL SIGNOPE']).message).toMatch(/STOPSIGNAL must be a valid signal/);
    expect(invalid(['STOPSIGNAL 99']).message).toMatch(/out of range/);
    expect(invalid(['USER']).message).toMatch(/USER needs a user/);
    expect(invalid(['CMD']).message).toMatch(/CMD needs a command/);
    expect(invalid(['LABEL =x']).message).toMatch(/LABEL/);
  });

  it('rejects an unknown instruction by name', () => {
    const e = invalid(['RUN apt-get update']);
    expect(e.message).toMatch(/^invalid change "RUN apt-get update": unknown instruction RUN/);
    expect(invalid(['FROM scratch']).message).toMatch(/unknown instruction FROM/);
    expect(invalid(['!!']).message).toMatch(/INSTRUCTION VALUE/);
  });

  it('does not modify the base config', () => {
    const base = { Env: ['A=1'] };
    applyChanges(base, ['ENV A=2']);
    expect(base.Env).toEqual(['A=1']);
  });
});

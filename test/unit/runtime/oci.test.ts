import { describe, it, expect } from 'vitest';
import { classifyRuntimeError } from '../../../engine/runtime/oci.js';

describe('classifyRuntimeError', () => {
  it.each([
    { name: 'not found at create', msg: 'runc create failed: unable to start container process: exec: "/no/such": stat /no/such: no such file or directory', code: 'command-not-found', exit: 127,
      text: 'runc: runc create failed: unable to start container process: exec: "/no/such": stat /no/such: no such file or directory: OCI runtime attempted to invoke a command that was not found' },
    { name: 'not in PATH', msg: 'runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH', code: 'command-not-found', exit: 127 },
    { name: 'not executable at exec', msg: 'exec failed: unable to start container process: exec: "/etc/passwd": permission denied', code: 'not-executable', exit: 126,
      text: 'runc: exec failed: unable to start container process: exec: "/etc/passwd": permission denied: OCI permission denied' },
    { name: 'anything else', msg: 'runc create failed: unable to apply cgroup configuration', code: 'runtime', exit: 125 },
  ])('$name', ({ msg, code, exit, text }) => {
    const e = classifyRuntimeError(msg, 'runc');
    expect(e.code).toBe(code);
    expect(e.exitCode).toBe(exit);
    if (text) expect(e.message).toBe(text);
  });
});

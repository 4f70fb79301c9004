import { defineConfig } from 'vitest/config';

// Integration and e2e tests share the host's network, iptables and cgroups: files run one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});

// Pod-level limits written into a cgroup tree (a directory standing in for /sys/fs/cgroup).
import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyCgroupLimits } from '../../../engine/runtime/mounts.js';

describe('applyCgroupLimits', () => {
  it('cgroup v2: memory.max, cpu.max, cpu.weight, pids.max, and the controllers enabled in every parent', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'cg2-'));
    try {
      writeFileSync(path.join(root, 'cgroup.controllers'), 'cpu memory pids');
      await applyCgroupLimits('/peapod/pod1', { memoryLimit: 67108864, cpuQuota: 50000, cpuPeriod: 100000, cpuShares: 512, pidsLimit: 100 }, [root]);
      const read = (f: string) => readFileSync(path.join(root, f), 'utf8');
      expect(read('peapod/pod1/memory.max')).toBe('67108864');
      expect(read('peapod/pod1/cpu.max')).toBe('50000 100000');
      expect(read('peapod/pod1/cpu.weight')).toBe('20');
      expect(read('peapod/pod1/pids.max')).toBe('100');
      expect(read('cgroup.subtree_control')).toBe('+cpu +memory +pids');
      expect(read('peapod/cgroup.subtree_control')).toBe('+cpu +memory +pids');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('cgroup v1: each controller under its own hierarchy', async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'cg1-'));
    try {
      const roots = ['memory', 'cpu,cpuacct', 'pids'].map((c) => path.join(base, c));
      for (const r of roots) mkdirSync(r);
      await applyCgroupLimits('/peapod/pod1', { memoryLimit: 1048576, cpuQuota: 25000 }, roots);
      expect(readFileSync(path.join(base, 'memory/peapod/pod1/memory.limit_in_bytes'), 'utf8')).toBe('1048576');
      expect(readFileSync(path.join(base, 'cpu,cpuacct/peapod/pod1/cpu.cfs_quota_us'), 'utf8')).toBe('25000');
      expect(readFileSync(path.join(base, 'cpu,cpuacct/peapod/pod1/cpu.cfs_period_us'), 'utf8')).toBe('100000');
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

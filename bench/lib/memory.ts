// Resident memory of what an engine leaves running for its pods: conmon of every container, the
// processes in each pod's cgroup (infra, workloads, anything else), and helper processes of the
// engine itself that are still alive (peapod must leave none; Podman leaves none either).
import { Podman, type Engine } from './engines.js';
import { median } from './stats.js';
import { allProcs, cgroupProcs, memoryCgroupOf, pssKb, rssKb, withDescendants } from './procfs.js';
import path from 'node:path';

export interface MemoryReport {
  pods: number;
  containers: number;           // non-infra
  conmonKb: number;              // median RSS of one conmon
  infraKb: number;               // median RSS of a pod's infra process(es), without its conmon
  workloadKb: number;            // median RSS of a container's own processes (sleep)
  otherInPodKb: number;          // processes in the pod cgroups that are none of the above (total)
  engineLeftKb: number;          // engine helper processes still running (total)
  engineLeftCount: number;
  aardvarkKb: number;            // DNS server(s) of the engine's network, shared by all its pods
  /** what the engine adds per running container besides the workload: its conmon and a share of leftovers */
  perContainerKb: number;
  /** everything of one pod: conmons, infra, workloads, other processes (median over pods) */
  perPodKb: number;
  perPodPssKb: number;
}

interface Inspected {
  Id: string;
  Pod?: string;
  IsInfra?: boolean;
  State?: { Pid?: number; ConmonPid?: number };
}

export async function residentMemory(e: Engine): Promise<MemoryReport | undefined> {
  const ids = await e.runningContainers();
  if (!ids.length) return undefined;
  const r = await e.run(['inspect', '--format', 'json', ...ids], { timeoutMs: 60_000 });
  if (r.code !== 0) return undefined;
  let items: Inspected[];
  try { items = JSON.parse(r.stdout); } catch { return undefined; }
  const procs = allProcs();
  const byPod = new Map<string, Inspected[]>();
  for (const c of items) {
    const pod = c.Pod ?? '';
    if (!byPod.has(pod)) byPod.set(pod, []);
    byPod.get(pod)!.push(c);
  }
  const conmons: number[] = [];
  const infras: number[] = [];
  const workloads: number[] = [];
  const perPod: number[] = [];
  const perPodPss: number[] = [];
  let otherInPod = 0;
  let containers = 0;
  const counted = new Set<number>();
  for (const members of byPod.values()) {
    let podRss = 0;
    let podPss = 0;
    const cgroupDirs = new Set<string>();
    for (const c of members) {
      const conmon = c.State?.ConmonPid ?? 0;
      if (conmon) {
        const k = rssKb(conmon);
        conmons.push(k);
        podRss += k;
        podPss += pssKb(conmon);
        counted.add(conmon);
      }
      const pid = c.State?.Pid ?? 0;
      if (!pid) continue;
      const tree = withDescendants(pid, procs);
      const k = tree.reduce((s, p) => s + rssKb(p), 0);
      podRss += k;
      podPss += tree.reduce((s, p) => s + pssKb(p), 0);
      tree.forEach((p) => counted.add(p));
      if (c.IsInfra) infras.push(k);
      else {
        workloads.push(k);
        containers++;
      }
      const cg = memoryCgroupOf(pid);
      if (cg) cgroupDirs.add(path.join(cg.root, path.dirname(cg.path)));
    }
    // Anything else that lives in the pod's cgroup (the parent of its containers' cgroups).
    for (const dir of cgroupDirs) {
      for (const p of cgroupProcs(dir)) {
        if (counted.has(p)) continue;
        counted.add(p);
        const k = rssKb(p);
        otherInPod += k;
        podRss += k;
        podPss += pssKb(p);
      }
    }
    perPod.push(podRss);
    perPodPss.push(podPss);
  }
  const helpers = e.helpers();
  const engineLeftKb = helpers.reduce((s, p) => s + rssKb(p), 0);
  const aardvark = procs.filter((p) => p.comm === 'aardvark-dns' && p.cmdline.includes(e instanceof Podman ? '/run/containers/networks' : `${e.dir}/`));
  const conmonKb = median(conmons);
  return {
    pods: byPod.size,
    containers,
    conmonKb,
    infraKb: median(infras),
    workloadKb: median(workloads),
    otherInPodKb: otherInPod,
    engineLeftKb,
    engineLeftCount: helpers.length,
    aardvarkKb: aardvark.reduce((s, p) => s + rssKb(p.pid), 0),
    perContainerKb: conmonKb + (containers ? (engineLeftKb + otherInPod) / containers : 0),
    perPodKb: median(perPod),
    perPodPssKb: median(perPodPss),
  };
}

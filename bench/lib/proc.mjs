// Reading a process's memory and CPU time from /proc (Linux), and sampling its RSS.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

const CLK_TCK = clockTicks();

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** VmRSS and VmHWM (peak RSS over the process's life) of `pid`, in bytes. */
export function readMemory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: statusKiB(status, 'VmRSS') * 1024, hwm: statusKiB(status, 'VmHWM') * 1024 };
}

function statusKiB(status, field) {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`/proc status has no ${field}`);
  return Number(match[1]);
}

/** User + system CPU seconds used so far by `pid`. */
export function readCpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm) ": state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * Samples the RSS of `pid` every `intervalMs`. `takeWindow()` returns the peak seen since the
 * previous call (the current RSS included) and starts a new window; `overallPeak` covers all.
 * When the process goes away, sampling stops and `gone` becomes true.
 */
export function startRssSampler(pid, intervalMs = 50) {
  const sampler = { windowPeak: 0, overallPeak: 0, gone: false, takeWindow, stop };
  const sample = () => {
    if (sampler.gone) return 0;
    try {
      const { rss } = readMemory(pid);
      sampler.windowPeak = Math.max(sampler.windowPeak, rss);
      sampler.overallPeak = Math.max(sampler.overallPeak, rss);
      return rss;
    } catch {
      sampler.gone = true;
      clearInterval(timer);
      return 0;
    }
  };
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  sample();

  function takeWindow() {
    const now = sample();
    const peak = sampler.windowPeak;
    sampler.windowPeak = now;
    return peak;
  }
  function stop() {
    clearInterval(timer);
  }
  return sampler;
}

/** CPU seconds used by the whole machine so far (all CPUs, idle and iowait excluded). */
export function readMachineBusySeconds() {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks;
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
}

/**
 * CPU seconds of `pid`, of this process and of the rest of the machine, to turn into percentages
 * over a phase: "others" shows work that competed with the benchmark for the CPUs.
 */
export function cpuMeter(pid) {
  const read = () => {
    const usage = process.cpuUsage();
    return {
      server: pid ? safe(() => readCpuSeconds(pid)) : undefined,
      client: (usage.user + usage.system) / 1e6,
      machine: safe(readMachineBusySeconds),
    };
  };
  let last = read();
  return {
    /** CPU % (100 = one core) of the server, this client and all other processes since the previous call. */
    lap(seconds) {
      const now = read();
      const pct = (key) => (now[key] === undefined || last[key] === undefined ? undefined : ((now[key] - last[key]) / seconds) * 100);
      const serverCpuPct = pct('server');
      const clientCpuPct = pct('client');
      const others = pct('machine') - (serverCpuPct ?? 0) - clientCpuPct;
      const otherCpuPct = Math.min(availableParallelism() * 100, Math.max(0, others));
      last = now;
      return { serverCpuPct, clientCpuPct, otherCpuPct };
    },
  };
}

function safe(fn) {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/**
 * How the installed bin runs a script with a `#!/usr/bin/env -S [NAME=VALUE...] node FLAGS`
 * line: the command to put before the script's path, `env` with the line's variables (it
 * execs node, so the child's pid is node's) and `node` (this one unless given) with the line's flags.
 */
export function shebangCommand(script, node = process.execPath) {
  const line = readFileSync(script, 'utf8').split('\n', 1)[0];
  const match = /^#!\S*env -S((?: +[A-Za-z_][A-Za-z0-9_]*=\S*)*) +node((?: +\S+)*)\s*$/.exec(line);
  if (!match) return [node];
  const words = (text) => text.trim().split(/ +/).filter(Boolean);
  const vars = words(match[1]);
  return [...(vars.length > 0 ? ['/usr/bin/env', ...vars] : []), node, ...words(match[2])];
}

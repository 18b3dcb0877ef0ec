// An example thirdparty engine for virt-tier (see docs/plugins.md).
//
// etmem loads a C .so and looks up `ops_name`; virt-tier imports this
// module and takes the export named by `ops_name` (here `watchEngine`).
// This engine moves nothing: each period it resolves each task's target
// pids and reads their resident memory, which its private command
// `status` reports. It shows every part of the interface: private keys
// validated by the plugin, start/stop, private commands.
//
//   [engine]
//   project=demo
//   name=thirdparty
//   eng_name=watch
//   libname=/path/to/example-engine.js
//   ops_name=watchEngine
//   period_ms=500            # private key: 10..60000
//
//   [task]
//   project=demo
//   engine=watch
//   name=w1
//   type=name
//   value=my-process
//   tag=batch                # private key: 1..32 chars of [A-Za-z0-9_-]
import { readFileSync } from 'node:fs';

const tasks = new Map(); // name -> { timer, pids, cycles, rssKiB, tag }
let periodMs = 1000;

function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export const watchEngine = {
  checkEngineParams(params) {
    for (const key of Object.keys(params)) {
      if (key !== 'period_ms') throw new Error(`unknown key "${key}" (allowed: period_ms)`);
    }
    if (params.period_ms !== undefined) {
      if (!/^\d+$/.test(params.period_ms) || Number(params.period_ms) < 10 || Number(params.period_ms) > 60000) {
        throw new Error(`period_ms: ${JSON.stringify(params.period_ms)} out of range; allowed: 10..60000`);
      }
    }
  },
  checkTaskParams(params) {
    for (const key of Object.keys(params)) {
      if (key !== 'tag') throw new Error(`unknown task key "${key}" (allowed: tag)`);
    }
    if (params.tag !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(params.tag)) {
      throw new Error(`tag: ${JSON.stringify(params.tag)} invalid; allowed: 1..32 chars of [A-Za-z0-9_-]`);
    }
  },
  init(params) {
    if (params.period_ms !== undefined) periodMs = Number(params.period_ms);
  },
  startTask(task) {
    const state = { pids: [], cycles: 0, rssKiB: 0, tag: task.config.params.tag ?? null };
    const tick = async () => {
      if (task.signal.aborted) return;
      state.pids = await task.resolvePids();
      state.rssKiB = state.pids.reduce((sum, pid) => sum + rssKiB(pid), 0);
      state.cycles += 1;
      task.reportStats({ pids: state.pids, rssKiB: state.rssKiB, cycles: state.cycles });
    };
    state.timer = setInterval(() => void tick(), periodMs);
    void tick();
    tasks.set(task.config.name, state);
  },
  stopTask(name) {
    const state = tasks.get(name);
    if (state) clearInterval(state.timer);
    tasks.delete(name);
  },
  command(cmd, args) {
    if (cmd !== 'status') throw new Error(`unknown command "${cmd}" (allowed: status)`);
    const out = {};
    for (const [name, s] of tasks) {
      if (args.task !== undefined && name !== args.task) continue;
      out[name] = { pids: s.pids, cycles: s.cycles, rssKiB: s.rssKiB, tag: s.tag };
    }
    return out;
  },
  close() {
    for (const s of tasks.values()) clearInterval(s.timer);
    tasks.clear();
  },
};

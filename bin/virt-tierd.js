#!/usr/bin/env -S node --max-semi-space-size=4 --v8-pool-size=1
// Entry point: the compiled daemon (npm run build writes dist/).
//
// --max-semi-space-size=4 (MiB; V8's default on 64-bit is 16): a daemon's
// garbage is short-lived, per cycle, and a young generation of 3 x 16 MiB
// was a quarter of its RSS. bench/scale.ts (docs/benchmarks.md, "Scale
// curve", 2026-12-03), 30 cycles back to back: 143-152 -> 108-117 MiB from
// 16 to 256 GiB tracked at about the same CPU per cycle. At one cycle a
// second V8's idle-time GC already returns most of it (111 -> 105 MiB at
// 16 GiB, 113 either way at 1 TiB): the flag bounds bursts of cycles. 2 MiB
// held less (98-114 back to back) but cost 15-40% more CPU per cycle at
// 16-256 GiB.
//
// --v8-pool-size=1: one V8 worker thread (GC marking, compiling) instead of
// four. A host daemon should not keep a thread per core's worth of helpers
// beside its guests, and each thread that allocates gets a glibc arena of
// its own that keeps what it freed: at a cycle a second RSS was 73-94 ->
// 71-73 MiB at 16 GiB and 92-111 -> 88 at 256 GiB, CPU per cycle the same
// (docs/benchmarks.md, "Ninth run", 2026-12-04).
//
// `-m` passes the same flags to the daemon it forks (DAEMON_NODE_FLAGS in
// src/daemon/main.ts); `node bin/virt-tierd.js` runs without them.
//
// First, before any module is loaded: a SIGUSR1 listener. Without one, Node
// answers SIGUSR1 by opening its inspector on 127.0.0.1:9229, where any local
// user could evaluate code in this root process (docs/security.md). The
// listener replaces Node's handler; it is installed before the dynamic
// import below, so there is no window while the daemon's modules load.
process.on('SIGUSR1', () => undefined);

const { refuseInspector, main } = await import('../dist/src/daemon/main.js');
const refusal = refuseInspector();
if (refusal !== undefined) {
  process.stderr.write(`virt-tierd: ${refusal}\n`);
  process.exit(2);
}
const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);

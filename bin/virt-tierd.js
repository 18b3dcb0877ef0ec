#!/usr/bin/env -S node --max-semi-space-size=2
// Entry point: the compiled daemon (npm run build writes dist/).
//
// --max-semi-space-size=2 (MiB; V8's default on 64-bit is 16): a daemon's
// garbage is short-lived, per cycle, and a young generation of 3 x 16 MiB
// was most of its RSS above Node's own ~40 MiB. bench/scale.ts at 16 GiB
// tracked, one cycle a second: 117 -> 84 MiB; at 1 TiB back to back,
// 161 -> 113 MiB, for 1.5-6% more CPU per cycle (docs/benchmarks.md,
// "Scale curve", 2026-12-03). `-m` passes the same flag to the daemon it
// forks (DAEMON_NODE_FLAGS in src/daemon/main.ts); `node bin/virt-tierd.js`
// runs without it.
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

#!/usr/bin/env node
// Entry point: the compiled daemon (npm run build writes dist/).
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

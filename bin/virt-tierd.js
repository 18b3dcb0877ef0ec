#!/usr/bin/env node
// Entry point: the compiled daemon (npm run build writes dist/).
import { main } from '../dist/src/daemon/main.js';

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);

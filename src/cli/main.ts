/**
 * virt-tier: the CLI. etmem's verbs (`obj`, `project`, `engine`) keep their
 * forms; virsh-style verbs sit beside them. Each verb is one file, listed
 * in commands.ts.
 */
import type { CliIO } from './command.js';
import { commands } from './commands.js';

const stdio: CliIO = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

export function helpText(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `Usage: virt-tier COMMAND [ARGS...]   (virt-tier COMMAND --help for its options)

Commands:
${lines.join('\n')}
  ${'help'.padEnd(width)}  this help

The daemon socket defaults to "virt-tier" ($VIRT_TIER_SOCKET); etmem's -s SOCKET works on every verb that talks to it.
`;
}

export async function main(argv: string[], io: CliIO = stdio): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === 'help' || verb === '-h' || verb === '--help') {
    io.out(helpText());
    return verb === undefined ? 2 : 0;
  }
  const cmd = commands.find((c) => c.name === verb);
  if (!cmd) {
    io.err(`virt-tier: OPT_INVAL: unknown command ${JSON.stringify(verb)}; allowed: ${commands.map((c) => c.name).join('|')}|help\n`);
    return 2;
  }
  return cmd.run(rest, io);
}

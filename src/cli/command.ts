/**
 * A CLI verb: one file per verb under src/cli/, registered in
 * src/cli/commands.ts. `run` returns the exit code; it writes through `io`
 * so tests can capture output.
 */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

export interface CliCommand {
  /** the first word(s) on the command line, e.g. 'pages' or 'host-validate' */
  name: string;
  summary: string;
  usage: string;
  /** every option the verb accepts, long and short forms (its man page and bash completion are checked against these) */
  flags?: readonly string[];
  run(args: string[], io: CliIO): Promise<number>;
}

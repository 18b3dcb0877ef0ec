/** Drives completion/virt-tier through bash, as bash does on TAB (shared by the unit and integration tests). */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const COMPLETION = path.join(root, 'completion/virt-tier');

/** What the completion function offers for `words` with the cursor on the last one. */
export function complete(words: string[], env: NodeJS.ProcessEnv = process.env): { replies: string[]; stderr: string; code: number | null } {
  const fn = words[0] === 'virt-tierd' ? '_virt_tierd' : '_virt_tier';
  const script = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); ${fn}; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', script, 'complete-test', COMPLETION, ...words], { encoding: 'utf8', env, timeout: 30_000 });
  return { replies: r.stdout.split('\n').filter((l) => l !== ''), stderr: r.stderr, code: r.status };
}


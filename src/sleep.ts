/**
 * The one pausable wait of the daemon: a timer that rejects with an
 * AbortError when its signal aborts, so a stopped task or a shutdown never
 * waits out a sleep. Injected (`SleepFn`) wherever tests need to step time.
 */
import { setTimeout as sleepTimer } from 'node:timers/promises';

export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

export const abortableSleep: SleepFn = async (ms, signal) => {
  await sleepTimer(ms, undefined, { signal });
};

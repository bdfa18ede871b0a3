// Layer sys/: the runtime's JIT policy. kraal is built with a reluctant JIT (scripts/build.ts,
// JIT_POLICY): a command is one short process that runs most of its code once, and compiling that
// code costs more than it saves. Work that goes on long enough to repay the compiler gets the
// normal policy back.

/** JavaScriptCore's normal tier-up thresholds, from now on (a no-op where the policy is normal already). */
export function normalJit(): void {
  Bun.unsafe.setJITPolicy(1);
}

/** A long-lived process (`up`, `mcp`): the normal policy once its start-up is over. */
export function normalJitAfterStart(): void {
  setTimeout(normalJit, START_UP_MS).unref();
}

/** How long a long-lived process counts as starting. */
const START_UP_MS = 1000;

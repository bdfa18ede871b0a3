import type { ArgsDef, CommandDef } from "citty";

/**
 * citty's `defineCommand`, which only gives a command its type (citty's returns its argument), so
 * that a command's module does not load citty: main.ts loads citty when there are arguments to
 * parse (with node:util, about 1.4 ms of a command's start-up).
 */
export function defineCommand<T extends ArgsDef = ArgsDef>(def: CommandDef<T>): CommandDef<T> {
  return def;
}

/**
 * Whether citty would parse an empty command line for `def` into nothing (`{ _: [] }`): no
 * argument has a default and none is positional (a missing positional is a usage error). Then
 * `kraal ps` needs no parser at all; test/cli/command.test.ts holds every command to it.
 */
export function parsesEmptyToNothing(def: CommandDef<any>): boolean {
  for (const a of Object.values((def.args ?? {}) as Record<string, { type?: string; default?: unknown }>)) {
    if (a.default !== undefined || a.type === "positional") return false;
  }
  return true;
}

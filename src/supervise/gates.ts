/**
 * One gate per agent of an `up`: opened once, with `true` when the agent became ready (or started,
 * if it has no readiness check), `false` when it never will (it failed, gave up, or ended first).
 * Agents that depend on it wait at its gate before they start.
 */
export class ReadyGates {
  private readonly gates = new Map<string, { promise: Promise<boolean>; open: (ok: boolean) => void; settled: boolean }>();

  constructor(names: string[]) {
    for (const name of names) {
      let open!: (ok: boolean) => void;
      const promise = new Promise<boolean>((done) => (open = done));
      this.gates.set(name, { promise, open, settled: false });
    }
  }

  /** Opens `name`'s gate; later calls change nothing (the first outcome is the one dependents see). */
  open(name: string, ok: boolean): void {
    const g = this.gates.get(name);
    if (!g || g.settled) return;
    g.settled = true;
    g.open(ok);
  }

  isOpen(name: string): boolean {
    return this.gates.get(name)?.settled ?? true;
  }

  /**
   * Waits for every gate in `names` (an agent not in this `up`, e.g. already running from an
   * earlier one, counts as ready). Returns the first that closed for good, "stopped" if `stopped`
   * settles first, or null when all are ready.
   */
  async waitFor(names: string[], stopped: Promise<void>): Promise<string | "stopped" | null> {
    const all = Promise.all(names.map(async (n) => ((await (this.gates.get(n)?.promise ?? true)) ? null : n)));
    const r = await Promise.race([all, stopped.then(() => "stopped" as const)]);
    return r === "stopped" ? r : (r.find((n) => n !== null) ?? null);
  }
}

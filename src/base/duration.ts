import { UsageError } from "./errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Longest duration kraal accepts: about 24 days, the largest a JS timer can wait. */
export const MAX_DURATION_MS = 2_147_483_647;

/**
 * Parses `300ms`, `5s`, `1.5s`, `2m`, `1h`; a bare number means seconds, as timeout(1) reads it.
 * Returns whole milliseconds. Throws UsageError naming `label` (a flag, `--grace`; omitted where
 * the caller names the source itself, as config errors do) for anything else,
 * so a typo never silently becomes "no grace" or "wait forever".
 */
export function parseDuration(text: string, label?: string): number {
  const at = label ? `${label}: ` : "";
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) {
    throw new UsageError(`${at}${JSON.stringify(text)} is not a duration`, "use a number with a unit: 300ms, 5s, 2m, 1h");
  }
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] ?? "s"]!);
  if (!Number.isFinite(ms) || ms > MAX_DURATION_MS) {
    throw new UsageError(`${at}${text} is too long (at most 24 days)`);
  }
  return ms;
}

/** Renders milliseconds compactly for people: 850ms, 12s, 3m04s, 2h05m, 3d04h. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}

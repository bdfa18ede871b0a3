import { UsageError } from "./errors.ts";

const UNIT_BYTES: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** Largest size kraal accepts: 1 TiB, far below where shell arithmetic overflows. */
export const MAX_SIZE_BYTES = 1024 ** 4;

/**
 * Parses `64M`, `512KiB`, `1.5G`, `4096` (bytes); units are binary (k = 1024), case does not
 * matter; `0` and `off` are 0. Whole bytes; throws UsageError naming `label` for anything else.
 */
export function parseSize(text: string, label?: string): number {
  const at = label ? `${label}: ` : "";
  if (/^\s*off\s*$/i.test(text)) return 0;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNIT_BYTES[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`${at}${JSON.stringify(text)} is not a size`, "use a number with a unit (64M, 512K, 1G), or 0 / off for no limit");
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isFinite(bytes) || bytes > MAX_SIZE_BYTES) throw new UsageError(`${at}${text} is too large (at most 1TiB)`);
  return bytes;
}

import { readFileSync } from "node:fs";
import { parse } from "dotenv";

/**
 * Reads a `.env` file (KEY=VALUE lines, `#` comments, quoted values, `export ` prefixes: the
 * dotenv format foreman, overmind and docker compose users write). Returns null when the file does
 * not exist; throws the read error otherwise (the caller names the config key that asked for it).
 * Nothing is expanded: `$OTHER` stays literal, as in foreman.
 */
export function readEnvFile(path: string): Record<string, string> | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  return parse(text);
}

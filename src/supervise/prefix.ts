/** Colours for agent names, in order (ANSI SGR codes: cyan, yellow, green, magenta, blue, red, bright variants). */
const PALETTE = [36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94];

export interface PrefixOptions {
  width: number;
  color: boolean;
  timestamps: boolean;
  now?: () => Date;
}

/** `name | ` padded to the widest name, coloured per agent on a TTY, optionally timestamped. */
export function prefixer(names: string[], opts: PrefixOptions): (name: string, line: string) => string {
  const prefix = linePrefix(names, opts);
  return (name, line) => `${prefix(name)}${line}\n`;
}

/** The time a line carries with `--timestamps`: UTC, to the millisecond (`12:34:56.789`). */
export function stampOf(at: Date): string {
  return at.toISOString().slice(11, 23);
}

/**
 * What goes before each line: `[TIME ]name | ` (`name` padded to the widest name, coloured per agent
 * when opts.color; the time when opts.timestamps, `at` or now). An empty name gives only the time.
 */
export function linePrefix(names: string[], opts: PrefixOptions): (name: string, at?: Date) => string {
  const colorOf = new Map(names.map((n, i) => [n, PALETTE[i % PALETTE.length]!]));
  return (name, at) => {
    const ts = opts.timestamps ? `${stampOf(at ?? opts.now?.() ?? new Date())} ` : "";
    if (name === "") return ts;
    const padded = name.padEnd(opts.width);
    if (opts.color && !colorOf.has(name)) colorOf.set(name, PALETTE[colorOf.size % PALETTE.length]!); // one that appeared later
    const label = opts.color ? `\x1b[${colorOf.get(name)}m${padded} |\x1b[0m` : `${padded} |`;
    return `${ts}${label} `;
  };
}

/**
 * Splits a byte stream into lines, keeping an unfinished last line until more arrives or the
 * stream ends. Very long lines are cut at `maxLine` characters so one agent cannot make kraal
 * buffer without bound.
 */
export class LineSplitter {
  private rest = "";
  private readonly decoder = new TextDecoder();
  constructor(private readonly maxLine = 64 * 1024) {}

  push(chunk: Uint8Array): string[] {
    this.rest += this.decoder.decode(chunk, { stream: true });
    const lines = this.rest.split("\n");
    this.rest = lines.pop()!;
    while (this.rest.length > this.maxLine) {
      lines.push(this.rest.slice(0, this.maxLine));
      this.rest = this.rest.slice(this.maxLine);
    }
    return lines;
  }

  end(): string[] {
    const last = this.rest + this.decoder.decode();
    this.rest = "";
    return last ? [last] : [];
  }
}

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
  const colorOf = new Map(names.map((n, i) => [n, PALETTE[i % PALETTE.length]!]));
  return (name, line) => {
    const padded = name.padEnd(opts.width);
    const label = opts.color ? `\x1b[${colorOf.get(name) ?? 37}m${padded} |\x1b[0m` : `${padded} |`;
    const ts = opts.timestamps ? `${(opts.now?.() ?? new Date()).toISOString().slice(11, 23)} ` : "";
    return `${ts}${label} ${line}\n`;
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

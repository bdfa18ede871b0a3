import { describe, expect, test } from "bun:test";
import { PrefixedLines } from "../../src/cli/log-lines.ts";

describe("prefixed lines (logs without an id)", () => {
  test("a line that spans two reads through one reused buffer comes out whole", () => {
    const out: string[] = [];
    const lines = new PrefixedLines((c) => out.push(Buffer.from(c).toString()), () => "a | ");
    // One buffer for every read, as the readers use: the next read overwrites what the last held.
    const buf = Buffer.alloc(8);
    const read = (text: string) => {
      buf.write(text);
      lines.push(buf.subarray(0, text.length), new Date());
    };
    read("first pa");
    read("rt\nnext\n");
    expect(out.join("")).toBe("a | first part\na | next\n");
  });
});

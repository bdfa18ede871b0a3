import { describe, expect, test } from "bun:test";
import { argvPreview, RECORD_ARGV_BYTES } from "../../src/supervise/supervisor.ts";

describe("argvPreview: what up's record keeps of an agent's argv", () => {
  test("an argv within the budget is kept whole, unmarked", () => {
    expect(argvPreview(["sh", "-c", "sleep 1"])).toEqual({ argv: ["sh", "-c", "sleep 1"] });
    expect(argvPreview(["x".repeat(RECORD_ARGV_BYTES)])).toEqual({ argv: ["x".repeat(RECORD_ARGV_BYTES)] });
    expect(argvPreview([])).toEqual({ argv: [] });
  });

  test("a longer one is cut at a character, ends in …, and is marked", () => {
    expect(argvPreview(["ab", "cdef", "gh"], 4)).toEqual({ argv: ["ab", "cd…"], argvCut: true });
    expect(argvPreview(["ab", "cd"], 2)).toEqual({ argv: ["ab", "…"], argvCut: true });
    // "é" is 2 bytes and "😀" 4: never split.
    expect(argvPreview(["aé😀"], 4)).toEqual({ argv: ["aé…"], argvCut: true });
  });

  test("for generated argvs: a prefix of the original, within budget + the 3 bytes of …, whole strings before the cut", () => {
    const alphabet = ["a", "é", "€", "😀", "\n", " ", "\u202e"];
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 500; i++) {
      const argv = Array.from({ length: rand(6) }, () => Array.from({ length: rand(40) }, () => alphabet[rand(alphabet.length)]).join(""));
      const max = rand(120);
      const r = argvPreview(argv, max);
      const bytes = Buffer.byteLength(r.argv.join(""));
      if (!r.argvCut) {
        expect(r.argv).toEqual(argv);
        expect(bytes).toBeLessThanOrEqual(max);
        continue;
      }
      expect(bytes).toBeLessThanOrEqual(max + 3);
      const last = r.argv.length - 1;
      expect(r.argv.slice(0, last)).toEqual(argv.slice(0, last));
      expect(r.argv[last]!.endsWith("…")).toBe(true);
      expect(argv[last]!.startsWith(r.argv[last]!.slice(0, -1))).toBe(true);
    }
  });
});

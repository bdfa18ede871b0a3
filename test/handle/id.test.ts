import { describe, expect, test } from "bun:test";
import { decodeId, encodeId, MAX_ID_BYTES, validateId } from "../../src/handle/id.ts";

/** Deterministic pseudo-random strings mixing ASCII, punctuation, path bits and multibyte text. */
function* generatedIds(count: number): Generator<string> {
  const alphabet = ["a", "Z", "0", "-", "_", ".", "/", "..", " ", "%", "~", "é", "日本", "🦀", "'", '"', "$", "\\", ":", "%2F"];
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < count; i++) {
    let s = "";
    const len = 1 + Math.floor(rand() * 40);
    while (s.length < len) s += alphabet[Math.floor(rand() * alphabet.length)];
    while (Buffer.byteLength(s) > MAX_ID_BYTES) s = s.slice(0, -1);
    if (s) yield s;
  }
}

describe("agent ids", () => {
  test("round-trip through the file-name encoding, for thousands of generated ids", () => {
    const names = new Map<string, string>();
    for (const id of generatedIds(5000)) {
      const name = encodeId(id);
      expect(decodeId(name)).toBe(id);
      expect(name).toMatch(/^[A-Za-z0-9_.%~-]+$/);
      expect(name.startsWith(".")).toBe(false);
      expect(name.length).toBeLessThanOrEqual(255);
      const other = names.get(name);
      if (other !== undefined) expect(other).toBe(id);
      names.set(name, id);
    }
  });

  test("look-alike ids never collide", () => {
    const ids = ["a/b", "a-b", "a%2Fb", "a_b", "a.b", ".", "..", ".a", "%2E", "~x", "A", "a"];
    const names = ids.map(encodeId);
    expect(new Set(names).size).toBe(ids.length);
    expect(encodeId("a/b")).toBe("a%2Fb");
    expect(encodeId("..")).toBe("%2E.");
  });

  test("nothing can escape the state directory", () => {
    for (const id of ["../etc/passwd", "/abs", "a/../../b", "..", "."]) {
      expect(encodeId(id)).not.toContain("/");
      expect([".", ".."]).not.toContain(encodeId(id));
    }
  });

  test("the longest ids use the compact form and still fit a file name", () => {
    const worst = "日".repeat(42); // 126 bytes, all encoded
    expect(encodeId(worst).startsWith("~")).toBe(true);
    expect(encodeId(worst).length).toBeLessThan(255);
    expect(decodeId(encodeId(worst))).toBe(worst);
    const maxAscii = "/".repeat(MAX_ID_BYTES);
    expect(decodeId(encodeId(maxAscii))).toBe(maxAscii);
  });

  test("invalid ids are rejected with a reason", () => {
    expect(() => validateId("")).toThrow("empty");
    expect(() => validateId("x".repeat(129))).toThrow("129 bytes");
    expect(() => validateId("a\nb")).toThrow("control character");
    expect(() => validateId("a\u0000")).toThrow("control character");
    expect(() => validateId("\u0085")).toThrow("control character");
    expect(() => validateId("\ud800")).toThrow("Unicode");
    expect(() => validateId("x".repeat(128))).not.toThrow();
  });

  test("names kraal would not write decode to null", () => {
    for (const name of ["", ".hidden", "a%2f", "a%ZZ", "%41", "a b", "~", "~!!", "a/b", "%0A", `~${Buffer.from("a").toString("base64url")}`]) {
      expect(decodeId(name)).toBeNull();
    }
  });
});

import { expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useTempState } from "../helpers.ts";
import { appendSafe, createFresh, O_APPEND, O_READ, O_RDWR_CREATE, openSafe, readSafe, readTextSafe, tempName, UnsafeFileError, writeAll, writeFileAtomic } from "../../src/sys/safe-fs.ts";

const t = useTempState();
const T = { timeout: 10_000 };

/** A victim file outside the state dir, a symlink to it, a FIFO and a directory inside. */
function traps() {
  const victim = join(t.dir, "victim");
  writeFileSync(victim, "precious\n");
  const link = join(t.dir, "link");
  symlinkSync(victim, link);
  const fifo = join(t.dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  const dir = join(t.dir, "sub");
  mkdirSync(dir);
  return { victim, link, fifo, dir };
}

test("openSafe refuses symlinks, FIFOs and directories for every kind of open, without blocking", () => {
  const { victim, link, fifo, dir } = traps();
  for (const flags of [O_READ, O_APPEND, O_RDWR_CREATE]) {
    for (const [path, kind] of [[link, "a symlink"], [fifo, "a FIFO"], [dir, "a directory"]] as const) {
      let err: unknown;
      try {
        closeSync(openSafe(path, flags));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UnsafeFileError);
      expect((err as UnsafeFileError).kind).toBe(kind);
    }
  }
  expect(readFileSync(victim, "utf8")).toBe("precious\n");
}, T);

test("readSafe: content and stat of a regular file, null when missing, refuses links and oversized files", () => {
  const { link, fifo } = traps();
  const f = join(t.dir, "f");
  writeFileSync(f, "hello");
  expect(readTextSafe(f)).toBe("hello");
  expect(readSafe(f)!.stat.size).toBe(5);
  expect(readTextSafe(join(t.dir, "missing"))).toBeNull();
  expect(() => readTextSafe(link)).toThrow(UnsafeFileError);
  expect(() => readTextSafe(fifo)).toThrow(UnsafeFileError);
  expect(() => readTextSafe(f, { maxBytes: 4 })).toThrow(/too big/);
  writeFileSync(f, "");
  expect(readTextSafe(f)).toBe("");
}, T);

test("readSafe reads every byte at sizes around its read size, and stops a file that grows past its limit", () => {
  const f = join(t.dir, "sizes");
  for (const size of [1, 4095, 4096, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7]) {
    const data = Buffer.alloc(size, "x");
    data[size - 1] = 0x79; // the last byte differs: a lost or repeated tail shows
    writeFileSync(f, data);
    expect(readSafe(f)!.data.equals(data)).toBe(true);
  }
  // Bigger than the limit though fstat said less: the file is appended to while it is read.
  const grower = Bun.spawn(["sh", "-c", `while :; do printf '%01024d' 0 >>"$0"; done`, f], { stdout: "ignore", stderr: "ignore" });
  try {
    writeFileSync(f, "");
    const limit = 256 * 1024;
    let refused = 0;
    // Until the writer has made it bigger than the limit (a deadline, not a count: sh may start late).
    for (const deadline = Date.now() + 5000; refused === 0 && Date.now() < deadline; ) {
      try {
        const r = readSafe(f, limit);
        expect(r!.data.length).toBeLessThanOrEqual(limit);
      } catch (e) {
        expect(String(e)).toContain("too big");
        refused++;
      }
    }
    expect(refused).toBe(1);
  } finally {
    grower.kill("SIGKILL");
  }
}, T);

test("appendSafe appends and creates 0600, never through a link or FIFO", () => {
  const { victim, link, fifo } = traps();
  const f = join(t.dir, "h");
  appendSafe(f, "a\n");
  appendSafe(f, "b\n");
  expect(readFileSync(f, "utf8")).toBe("a\nb\n");
  expect(statSync(f).mode & 0o777).toBe(0o600);
  expect(() => appendSafe(link, "x")).toThrow(UnsafeFileError);
  expect(() => appendSafe(fifo, "x")).toThrow(UnsafeFileError);
  expect(readFileSync(victim, "utf8")).toBe("precious\n");
}, T);

test("writeFileAtomic replaces a symlink at the name instead of writing through it, and leaves no temp file", () => {
  const { victim, link } = traps();
  writeFileAtomic(t.dir, "link", "new\n");
  expect(readFileSync(victim, "utf8")).toBe("precious\n");
  expect(readFileSync(link, "utf8")).toBe("new\n");
  expect(statSync(link).mode & 0o777).toBe(0o600);
  expect(readdirSync(t.dir).filter((n) => n.startsWith(".tmp."))).toEqual([]);
}, T);

test("temp names are unguessable: a link planted under the old pid-only name is never written through", () => {
  const { victim } = traps();
  symlinkSync(victim, join(t.dir, `.tmp.h.${process.pid}`));
  writeFileAtomic(t.dir, "h", "ok\n");
  expect(readFileSync(victim, "utf8")).toBe("precious\n");
  expect(readFileSync(join(t.dir, "h"), "utf8")).toBe("ok\n");
  const names = new Set(Array.from({ length: 1000 }, () => tempName("x")));
  expect(names.size).toBe(1000);
  for (const n of names) expect(n).toMatch(new RegExp(`^\\.tmp\\.x\\.${process.pid}\\.[0-9a-f]{16}$`));
}, T);

test("createFresh removes a planted link (not its target) and returns a fd to a new empty file", () => {
  const { victim, link } = traps();
  const fd = createFresh(link);
  writeAll(fd, "1 0\n");
  closeSync(fd);
  expect(readFileSync(victim, "utf8")).toBe("precious\n");
  expect(readFileSync(link, "utf8")).toBe("1 0\n");
  expect(() => createFresh(join(t.dir, "sub"))).toThrow(UnsafeFileError);
}, T);

import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_HANDLE_BYTES, parseHandle, readHandle, serializeHandle, writeFileAtomic } from "../../src/handle/handle.ts";
import { sampleHandle } from "../helpers.ts";


describe("handle records", () => {
  test("a written handle parses back to itself", () => {
    const h = sampleHandle({ id: "weird/ id ✓", argv: ["a b", "'", ""] });
    expect(parseHandle(serializeHandle(h))).toEqual({ handle: h });
  });

  test("the seed project's bare pgid is read as a legacy handle", () => {
    expect(parseHandle("1234\n")).toEqual({ legacy: 1234 });
  });

  test("every malformed field is reported, never repaired", () => {
    const cases: [string, string][] = [
      ["", "empty"],
      ["  \n", "empty"],
      ["1", "out of range"],
      ["0", "out of range"],
      ["99999999", "out of range"],
      ["garbage", "neither"],
      ["[1,2]", "not a JSON object"],
      ["null", "not a JSON object"],
      [JSON.stringify({ ...sampleHandle(), v: 2 }), "version"],
      [JSON.stringify({ ...sampleHandle(), pgid: 1 }), "pgid"],
      [JSON.stringify({ ...sampleHandle(), pgid: -7 }), "pgid"],
      [JSON.stringify({ ...sampleHandle(), pgid: "12" }), "pgid"],
      [JSON.stringify({ ...sampleHandle(), pgid: 1e12 }), "pgid"],
      [JSON.stringify({ ...sampleHandle(), leaderStart: -1 }), "leaderStart"],
      [JSON.stringify({ ...sampleHandle(), bootId: "" }), "bootId"],
      [JSON.stringify({ ...sampleHandle(), argv: [] }), "argv"],
      [JSON.stringify({ ...sampleHandle(), argv: [1] }), "argv"],
      [JSON.stringify({ ...sampleHandle(), id: "" }), "id"],
      [JSON.stringify({ ...sampleHandle(), uid: 1.5 }), "uid"],
      [JSON.stringify({ ...sampleHandle(), startedAt: "x" }), "startedAt"],
      [JSON.stringify({ ...sampleHandle(), mode: 3 }), "mode"],
      [JSON.stringify({ ...sampleHandle(), tier: "pidns" }), "tier"],
      [JSON.stringify({ ...sampleHandle(), tier: "cgroup" }), "cgroup"],
      [JSON.stringify({ ...sampleHandle(), tier: "cgroup", cgroup: { path: "rel/x", ino: 3 } }), "cgroup"],
      [JSON.stringify({ ...sampleHandle(), tier: "cgroup", cgroup: { path: "/a/../b", ino: 3 } }), "cgroup"],
      [JSON.stringify({ ...sampleHandle(), tier: "cgroup", cgroup: { path: "/a/b", ino: "3" } }), "cgroup"],
    ];
    expect(parseHandle(JSON.stringify({ ...sampleHandle(), tier: "cgroup", cgroup: { path: "/sys/fs/cgroup/kraal/k1", ino: 3 } }))).toHaveProperty("handle");
    for (const [text, why] of cases) {
      const r = parseHandle(text);
      expect("corrupt" in r ? r.corrupt : `parsed: ${text}`).toContain(why);
    }
  });
});

describe("reading entries of pids/", () => {
  const dir = mkdtempSync(join(tmpdir(), "kraal-handle-"));
  writeFileSync(join(dir, "good"), serializeHandle(sampleHandle()));
  writeFileSync(join(dir, "huge"), "x".repeat(MAX_HANDLE_BYTES + 1));
  mkdirSync(join(dir, "adir"));
  symlinkSync(join(dir, "good"), join(dir, "link"));
  Bun.spawnSync(["mkfifo", join(dir, "fifo")]);

  test("a regular handle is read with its file stamp", () => {
    const r = readHandle(join(dir, "good"));
    expect(r.kind).toBe("handle");
    if (r.kind === "handle") expect(r.file.uid).toBe(process.getuid!());
  });

  test("symlinks, directories, FIFOs and oversized files are corrupt and never opened", () => {
    const reason = (n: string) => {
      const r = readHandle(join(dir, n));
      return r.kind === "corrupt" ? r.reason : r.kind;
    };
    expect(reason("link")).toContain("symlink");
    expect(reason("adir")).toContain("directory");
    expect(reason("fifo")).toContain("FIFO"); // returns at once: a FIFO opened for reading would block
    expect(reason("huge")).toContain("too big");
    expect(readHandle(join(dir, "nope")).kind).toBe("missing");
  });

  test("an entry the listing called a regular file is read the same, and one swapped since is still caught", () => {
    const listed = (n: string) => readHandle(join(dir, n), true);
    expect(listed("good")).toEqual(readHandle(join(dir, "good")));
    // What a sweep meets when a file listed by readdir was replaced before it was opened:
    const reason = (n: string) => {
      const r = listed(n);
      return r.kind === "corrupt" ? r.reason : r.kind;
    };
    expect(reason("link")).toBe("is a symlink"); // O_NOFOLLOW refuses it; nothing behind it is read
    expect(reason("adir")).toBe("is a directory");
    expect(reason("fifo")).toBe("is a FIFO"); // opened non-blocking, seen by fstat, never read
    expect(reason("huge")).toContain("too big");
    expect(listed("nope").kind).toBe("missing");
  });

  test("atomic writes leave no temp file behind", () => {
    const d = mkdtempSync(join(tmpdir(), "kraal-atomic-"));
    writeFileAtomic(d, "x", "one");
    writeFileAtomic(d, "x", "two");
    expect(readdirSync(d)).toEqual(["x"]);
    expect(() => writeFileAtomic(join(d, "missing-dir"), "x", "three")).toThrow();
  });
});

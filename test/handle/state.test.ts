import { expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useTempState } from "../helpers.ts";
import { checkStateDir, ensureLayout, layoutOf, resolveStateDir, STATE_SUBDIRS, trustedStateDir, UntrustedStateDirError } from "../../src/handle/state.ts";

const t = useTempState();
const T = { timeout: 10_000 };
const me = process.geteuid!();

function refusal(root: string, uid = me): string {
  try {
    checkStateDir(root, uid);
  } catch (e) {
    expect(e).toBeInstanceOf(UntrustedStateDirError);
    expect((e as Error).message).not.toContain("\n");
    return (e as Error).message;
  }
  return "";
}

test("a missing state directory passes, and ensureLayout creates it and its directories 0700", () => {
  const root = join(t.dir, "new/deeper/state");
  expect(refusal(root)).toBe("");
  ensureLayout(layoutOf(root));
  for (const d of [root, join(root, "pids"), join(root, "exits"), join(root, "logs")]) expect(statSync(d).mode & 0o777).toBe(0o700);
  expect(refusal(root)).toBe("");
}, T);

test("a directory writable by group or others is refused with the path and the chmod that fixes it", () => {
  const root = join(t.dir, "state");
  mkdirSync(root, { mode: 0o700 });
  for (const [mode, words] of [[0o777, "group and others"], [0o770, "group"], [0o1703, "others"]] as const) {
    chmodSync(root, mode);
    const m = refusal(root);
    expect(m).toContain(root);
    expect(m).toContain(`writable by ${words}`);
    expect(m).toContain(`chmod -R go-w ${root}`);
  }
  chmodSync(root, 0o755);
  expect(refusal(root)).toBe("");
}, T);

test("a directory owned by someone else is refused naming the owner and the fix", () => {
  const root = join(t.dir, "state");
  mkdirSync(root, { mode: 0o700 });
  expect(refusal(root, me + 4242)).toMatch(new RegExp(`owned by uid ${me} .*not by you \\(uid ${me + 4242}\\); if it is yours: chown -R`));
  if (me === 0) {
    chownSync(root, 65534, 65534);
    expect(refusal(root)).toContain("owned by uid 65534");
  }
}, T);

test("every state subdirectory is checked: a symlink, a file, or a foreign mode there is refused", () => {
  const root = join(t.dir, "state");
  for (const sub of STATE_SUBDIRS) {
    mkdirSync(root, { mode: 0o700 });
    symlinkSync("/etc", join(root, sub));
    expect(refusal(root)).toContain(`${join(root, sub)} is a symlink`);
    t.cleanup();
    mkdirSync(t.dir);
    mkdirSync(root, { mode: 0o700 });
    writeFileSync(join(root, sub), "");
    expect(refusal(root)).toContain("is not a directory");
    t.cleanup();
    mkdirSync(t.dir);
    mkdirSync(join(root, sub), { recursive: true, mode: 0o700 });
    chmodSync(join(root, sub), 0o777);
    expect(refusal(root)).toContain("writable by group and others");
    t.cleanup();
    mkdirSync(t.dir);
  }
}, T);

test("a .kraal symlink found by walking up is refused; one given explicitly is resolved once and its target checked", () => {
  const real = join(t.dir, "real");
  mkdirSync(real, { mode: 0o700 });
  const project = join(t.dir, "project/sub");
  mkdirSync(project, { recursive: true });
  symlinkSync(real, join(t.dir, "project/.kraal"));
  const env = {};
  expect(resolveStateDir({ cwd: project, env })).toBe(join(t.dir, "project/.kraal"));
  expect(() => trustedStateDir({ cwd: project, env })).toThrow(/is a symlink \(to .*real\).*pass --dir .*real/);
  expect(trustedStateDir({ cwd: project, env, dir: "../.kraal" })).toBe(real);
  expect(trustedStateDir({ cwd: project, env: { KRAAL_DIR: join(t.dir, "project/.kraal") } })).toBe(real);
  chmodSync(real, 0o777);
  expect(() => trustedStateDir({ cwd: project, env, dir: "../.kraal" })).toThrow(/writable by group and others/);
  symlinkSync(join(t.dir, "nowhere"), join(t.dir, "dangling"));
  expect(() => trustedStateDir({ cwd: t.dir, env, dir: "dangling" })).toThrow(/symlink to .*nowhere, which does not exist/);
}, T);

test("ensureLayout refuses a directory someone else created first instead of adopting it", () => {
  const root = join(t.dir, "state");
  mkdirSync(join(root, "logs"), { recursive: true, mode: 0o777 });
  chmodSync(join(root, "logs"), 0o777);
  expect(() => ensureLayout(layoutOf(root))).toThrow(UntrustedStateDirError);
}, T);

import { describe, expect, test } from "bun:test";
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { rotateParts, startNewRun } from "../../src/lifecycle/log-files.ts";
import { layoutOf } from "../../src/handle/state.ts";
import { followStep, printLog, type Followed } from "../../src/lifecycle/logs.ts";

/** A log at a fresh path, and what a follower printed of it. */
function setup() {
  const logs = join(mkdtempSync(join(tmpdir(), "kraal-logs-")), "logs");
  mkdirSync(logs);
  const live = join(logs, "a.log");
  const printed: string[] = [];
  const sink = (c: Uint8Array) => printed.push(Buffer.from(c).toString());
  return { live, printed, sink, text: () => printed.join("") };
}

/** The writer's part: appends `line`, rotates (the live file becomes .1, and so on), and starts a new live file. */
const writeAndRotate = (live: string, line: string) => {
  appendFileSync(live, line);
  rotateParts(live);
  appendFileSync(live, "");
};

describe("following a log across rotations (logs -f)", () => {
  test("several rotations between two polls: every generation is printed once, in order", () => {
    const { live, sink, text } = setup();
    writeFileSync(live, "0\n");
    let at: Followed = printLog(live, sink);
    writeAndRotate(live, "1\n");
    writeAndRotate(live, "2\n");
    writeAndRotate(live, "3\n");
    appendFileSync(live, "4\n");
    at = followStep(live, at, sink);
    expect(text()).toBe("0\n1\n2\n3\n4\n");
    appendFileSync(live, "5\n");
    at = followStep(live, at, sink);
    expect(text()).toBe("0\n1\n2\n3\n4\n5\n");
    closeSync(at!.log.fd);
  });

  test("a rotation while the follower prints (between its opens and reads) loses nothing and repeats nothing", () => {
    const { live, printed, text } = setup();
    writeFileSync(live, "0\n");
    let rotateOnPrint = 0;
    // The writer rotates again each time the follower prints a chunk: the worst moment for it.
    const sink = (c: Uint8Array) => {
      printed.push(Buffer.from(c).toString());
      if (rotateOnPrint > 0) {
        rotateOnPrint--;
        writeAndRotate(live, `r${rotateOnPrint}\n`);
      }
    };
    let at: Followed = printLog(live, sink);
    writeAndRotate(live, "1\n");
    appendFileSync(live, "2\n");
    rotateOnPrint = 2;
    for (let i = 0; i < 4; i++) at = followStep(live, at, sink);
    const lines = text().split("\n").filter(Boolean);
    expect(lines.slice(0, 3)).toEqual(["0", "1", "2"]);
    expect(lines.toSorted()).toEqual(["0", "1", "2", "r0", "r1"]);
    expect(new Set(lines).size).toBe(lines.length);
    closeSync(at!.log.fd);
  });

  test("a log that appears after following began is printed from its oldest generation", () => {
    const { live, sink, text } = setup();
    let at: Followed = followStep(live, null, sink);
    expect(at).toBeNull();
    writeAndRotate(live, "1\n");
    appendFileSync(live, "2\n");
    at = followStep(live, at, sink);
    expect(text()).toBe("1\n2\n");
    closeSync(at!.log.fd);
  });
});

describe("the last lines across generations (logs -n)", () => {
  test("an empty live file (it has just rotated): -n N is still the last N lines", () => {
    const { live, sink, text } = setup();
    writeFileSync(`${live}.3`, "a\n");
    writeFileSync(`${live}.2`, "b\n");
    writeFileSync(`${live}.1`, "c\n");
    writeFileSync(live, "");
    const at = printLog(live, sink, 3);
    expect(text()).toBe("a\nb\nc\n");
    closeSync(at!.log.fd);
  });
});

describe("following a log into a new run (logs -f across restarts)", () => {
  test("the old run rotated, then a new run began, between two polls: the old run's newer files come first", () => {
    const { live, sink, text } = setup();
    writeFileSync(live, "old-1\n");
    let at: Followed = printLog(live, sink);
    writeAndRotate(live, "old-2\n");
    appendFileSync(live, "old-3\n");
    // A new run: the old run's files become .prev*, and the new one starts its own.
    startNewRun(layoutOf(dirname(dirname(live))), "a");
    appendFileSync(live, "new-1\n");
    at = followStep(live, at, sink);
    at = followStep(live, at, sink);
    expect(text()).toBe("old-1\nold-2\nold-3\nnew-1\n");
    closeSync(at!.log.fd);
  });
});

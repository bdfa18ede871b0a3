import { describe, expect, test } from "bun:test";
import { constants } from "node:os";
import { fromShellStatus, signalName, signalNumber } from "../../src/base/exit-status.ts";

describe("signal names and numbers", () => {
  test("are the platform's (node:os), both ways", () => {
    for (const [name, n] of Object.entries(constants.signals)) {
      expect(signalNumber(name)).toBe(n);
      expect(signalNumber(signalName(n)!)).toBe(n);
    }
    expect(signalName(9)).toBe("SIGKILL");
    expect(signalNumber("SIGTERM")).toBe(15);
    expect(signalNumber("SIGNOPE")).toBeNull();
    expect(signalName(1000)).toBeNull();
  });

  test("a shell's status above 128 is a death by signal when the signal exists", () => {
    expect(fromShellStatus(137)).toEqual({ exitCode: null, signal: "SIGKILL" });
    expect(fromShellStatus(3)).toEqual({ exitCode: 3, signal: null });
    expect(fromShellStatus(250)).toEqual({ exitCode: 250, signal: null });
  });
});

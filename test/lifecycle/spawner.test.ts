import { describe, expect, test } from "bun:test";
import { agentEnv } from "../../src/lifecycle/spawner.ts";

describe("the agent's environment", () => {
  test("drops Bun's control variables, keeps everything else, and adds the extras", () => {
    const env = agentEnv(
      { PATH: "/bin", BUN_BE_BUN: "1", BUN_OPTIONS: "--smol", BUN_INSPECT: "1", BUN_CONFIG_REGISTRY: "x", RUNNER_TRACKING_ID: "r1", BUNNY: "ok", U: undefined },
      { A: "1" },
    );
    expect(env).toEqual({ PATH: "/bin", RUNNER_TRACKING_ID: "r1", BUNNY: "ok", A: "1" });
  });
});

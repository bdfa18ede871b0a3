import { defineCommand } from "../command.ts";
import kill from "./kill.ts";

/** pm2's and supervisorctl's word for it: the same as `kraal kill`. */
export default defineCommand({
  ...kill,
  meta: { name: "stop", description: "Stop agents (the same as kraal kill); agents of a running kraal up stay stopped until kraal start" },
});

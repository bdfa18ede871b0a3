/**
 * The MCP SDK's own floor: a compiled program that loads the official SDK's McpServer and stdio
 * transport, registers no tools and answers `initialize`. What `kraal mcp` cannot go below while
 * it uses the SDK (issue #11 asks for the SDK, not hand-written JSON-RPC).
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

const server = new McpServer({ name: "floor", version: "1" }, { capabilities: { tools: {} } });
const transport = new StdioServerTransport();
transport.onclose = () => process.exit(0);
process.stdin.on("end", () => process.exit(0));
await server.connect(transport);

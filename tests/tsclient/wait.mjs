// The MCP TypeScript SDK's client over streamable HTTP: one wait_for_background_task call with a progress
// handler. Prints one JSON line per progress notification as it arrives (the test steers the task on each),
// then one line with the result. Usage: node wait.mjs <mcp-url> <bearer-token> <arguments-json>
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';

const [url, token, args] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: 'bgtask-mcp-ts-test', version: '1.0.0' });
await client.connect(transport);
const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const result = await client.callTool(
  { name: 'wait_for_background_task', arguments: JSON.parse(args) },
  CallToolResultSchema,
  { onprogress: (p) => say({ progress: p.progress, total: p.total ?? null, message: p.message ?? null }), timeout: 120000 },
);
say({ result: result.structuredContent ?? null, isError: result.isError ?? false });
await client.close();

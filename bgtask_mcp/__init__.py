"""bgtask-mcp: an MCP server for DMS background tasks on Open Telekom Cloud and Huawei Cloud."""

__version__ = "0.1.0"

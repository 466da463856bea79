"""The embedded DMS simulator: a real HTTP service for trying bgtask-mcp and for its tests."""

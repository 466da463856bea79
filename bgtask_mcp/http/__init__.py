"""The shared-team transport: stateless streamable HTTP at /mcp behind a gate (``app``), the probe and metrics
routes beside it (``routes``), OAuth 2.1 resource-server checks (``oauth``), and uvicorn (``serve``)."""

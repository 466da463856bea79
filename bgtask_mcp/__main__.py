from bgtask_mcp.cli import main

raise SystemExit(main())

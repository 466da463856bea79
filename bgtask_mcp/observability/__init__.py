"""What the server tells its operators: the hooks every part calls (``telemetry``), Prometheus metrics
(``metrics``) and OpenTelemetry traces exported over OTLP (``tracing``)."""

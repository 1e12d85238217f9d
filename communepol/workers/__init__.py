"""Background workers of one process, started and stopped by the composition root: the inbox
worker (inbound events → conversations), the dispatcher (outbox → platforms) and the pollers
(platforms without a public webhook URL → inbox)."""

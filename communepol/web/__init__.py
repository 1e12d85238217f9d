"""The web: health and metrics, public pages (/p/...), and later the admin web (/admin), the
REST API (/api/v1) and the platform webhooks (/webhooks/...)."""

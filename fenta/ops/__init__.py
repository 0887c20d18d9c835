"""What runs around jobs, above the engine: receivers, and (to come) scheduler, webhooks, quotas, batch,
sync."""

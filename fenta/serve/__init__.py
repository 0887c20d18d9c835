"""`fenta serve`: the render API of one box, for web apps, scripts, n8n and AI agents (MCP).

    fenta serve --workers 2          # API on 127.0.0.1:8000, 2 jobs at a time, the scheduler
    fenta tokens create --name ci --role editor --expires 90d

    app          create_app(settings, options): FastAPI; REST under /v1, SSE, /metrics, MCP at /mcp
    server       serve(...): uvicorn + the worker process + the scheduler, stopped cleanly by SIGTERM
    workers      run_workers(settings, n, stop): the queue served as `fenta worker` does (ops.serving)
    jobs, events, catalog, assets, admin, metrics, mcp    the routes and tools, by concept
    service      what they do, once (no HTTP): jobs; catalog_service: validation, estimates, templates,
                 node types, assets
    access       tokens (format, hash, expiry, revocation), roles and scopes: the permission matrix
    deps         require(scope): authentication, permission and rate limit of each route
    throttle     rate limits per token and route (RateLimit fields, 429), the body cap (413)
    problems     RFC 9457 problem documents for every error
    untrusted    load_untrusted / check_webhook_url: the one door for what clients send
    logs         text or JSON lines with request and job ids (also for `fenta worker` and `fenta scheduler`)
    store        every SQL statement of the package (its tables, and its reads of the engine's)

`fenta.serve.access` and `fenta.serve.logs` import no web framework (the CLI's `fenta tokens`, `worker` and
`scheduler` use them without the serve extra); everything else needs `pip install 'fenta[serve]'`
(Python 3.11+).
"""

"""Local fake servers for the external services, following ../shared/api-contracts.md.

Each fake is a real HTTP server on 127.0.0.1 (a thread in the test process), usable by hand too:
    python -m tests.fakes.pexels   # prints its URL; point FENTA_PEXELS_URL at it
"""

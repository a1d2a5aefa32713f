"""Who is calling and what it may see, one job per module.

caller.py (the Caller value), keys.py (API keys: scrypt hashes), basic.py (the HTTP Basic header),
authenticator.py (HTTP Basic callers, the failed-login throttle) with failed_logins.py (the
throttle's counts, shared by every worker), sessions.py (web-session callers), access.py (who may
read or write a collection, the read scope), clearance.py (TLP per role).
"""

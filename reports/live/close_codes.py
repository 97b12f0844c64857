"""WebSocket close codes this site sends (docs/security.md, "WebSocket close codes").

Codes 4000-4999 are the application's own (RFC 6455); these mirror HTTP statuses.
A close before the handshake is accepted reaches a browser as a refused handshake
(Daphne answers HTTP 403), so the code is visible to clients of an open socket and
to ASGI tests.
"""

from __future__ import annotations

# Signed out while the socket was open: a password change, deactivation, deletion or
# a revoked (or expired) API token. Reconnecting needs new credentials.
UNAUTHORIZED = 4401
# Not allowed: anonymous, another user's stream, a malformed stream id.
FORBIDDEN = 4403
# No consumer serves the path.
NOT_FOUND = 4404

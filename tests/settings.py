"""The site's settings for its tests and the servers they start: a fast password hasher
and static files looked up on request.

Django's default hasher runs 1,000,000 PBKDF2 rounds, about 0.25 s of CPU a password;
the suite makes a user (or logs one in) in most of its tests and in every server it
starts. What the tests check of passwords (throttling, validators) does not depend on
the hasher.
"""

from __future__ import annotations

from reportsite.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# WhiteNoise indexes every static file when its middleware starts, and the test client
# starts the middleware afresh for each client: 15 ms of CPU a client, most of it for
# files no test asks for. Tests (and the servers they start) look files up on request.
WHITENOISE_AUTOREFRESH = True

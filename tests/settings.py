"""The site's settings for its tests and the servers they start: a fast password hasher.

Django's default hasher runs 1,000,000 PBKDF2 rounds, about 0.25 s of CPU a password;
the suite makes a user (or logs one in) in most of its tests and in every server it
starts. What the tests check of passwords (throttling, validators) does not depend on
the hasher.
"""

from __future__ import annotations

from reportsite.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

"""Settings for the test suite: a throw-away data directory, no master key, fast usage flushes."""

import os
import tempfile

os.environ["G4F_DATA_DIR"] = os.environ.get("G4F_TEST_DATA_DIR") or tempfile.mkdtemp(prefix="g4f-test-")
os.environ["G4F_MEDIA_DIR"] = os.path.join(os.environ["G4F_DATA_DIR"], "media")
for name in list(os.environ):
    # Whatever the developer's shell sets for the gateway must not leak into the tests.
    if name.startswith("G4F_") and name not in ("G4F_DATA_DIR", "G4F_MEDIA_DIR", "G4F_TEST_DATA_DIR"):
        os.environ.pop(name)
for name in ("REDIS_URL", "DATABASE_URL", "DJANGO_DEBUG"):
    os.environ.pop(name, None)

from g4fsite.settings import *  # noqa: E402, F403
from g4fsite.settings import G4F  # noqa: E402

G4F = {**G4F, "API_KEY": "", "USAGE_FLUSH_INTERVAL": 0.05}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

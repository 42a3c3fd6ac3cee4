"""Print a variable (default DATABASE_URL) as the settings will see it.

    python scripts/database_url.py [NAME]

The environment first, then the env file (DJANGO_ENV_FILE, default .env;
empty: none), as todoproject/settings.py reads them; an empty line when
neither sets it. scripts/run.sh uses it to choose between that database and
the embedded PostgreSQL, and to find DATABASE_RUNTIME_URL.
"""

import os
import sys

from dotenv import dotenv_values

name = sys.argv[1] if len(sys.argv) > 1 else "DATABASE_URL"
env_file = os.environ.get("DJANGO_ENV_FILE", ".env")
from_file = dotenv_values(env_file) if env_file and os.path.isfile(env_file) else {}
print((os.environ.get(name) or from_file.get(name) or "").strip())

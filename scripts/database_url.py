"""Print DATABASE_URL as the settings will see it, or an empty line.

The environment first, then the env file (DJANGO_ENV_FILE, default .env;
empty: none), as todoproject/settings.py reads them. scripts/run.sh uses it
to choose between that database and the embedded PostgreSQL.
"""

import os

from dotenv import dotenv_values

env_file = os.environ.get("DJANGO_ENV_FILE", ".env")
from_file = dotenv_values(env_file) if env_file and os.path.isfile(env_file) else {}
print((os.environ.get("DATABASE_URL") or from_file.get("DATABASE_URL") or "").strip())

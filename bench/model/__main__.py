"""`python -m bench.model --write-schema`: regenerate results.schema.json from the model."""

import sys

from bench.model.store import SCHEMA_FILE, schema_text

if sys.argv[1:] == ["--write-schema"]:
    SCHEMA_FILE.write_text(schema_text())
    print(f"wrote {SCHEMA_FILE}")
else:
    sys.stdout.write(schema_text())

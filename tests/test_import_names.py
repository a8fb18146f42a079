"""Each module is loaded under one name: the checkout's top level is installed as parlor.web, so
`import server` beside `import parlor.web.server` would make the same file two modules (two
copies of every module-level set, two identities of every class)."""
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

import parlor.web.server  # noqa: F401 (the app, with everything it imports)
import tests.helpers  # noqa: F401 (the test helpers)
import tests.world  # noqa: F401

TOP = Path(__file__).resolve().parent.parent
TOP_LEVEL_NAMES = re.compile(r"^\s*(from|import)\s+(server|services|handlers|views)\b", re.M)


def test_no_file_is_loaded_as_two_modules():
    names_of_file = defaultdict(list)
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        real = Path(os.path.realpath(path)) if path else None
        if real and real.is_relative_to(TOP) and not real.is_relative_to(TOP / ".venv"):  # the project's own files
            names_of_file[str(real)].append(name)
    twice = {path: names for path, names in names_of_file.items() if len(names) > 1}
    assert twice == {}


def test_no_code_imports_the_checkouts_top_level_by_its_own_name():
    """Imports inside functions run later than the check above: they are read here."""
    offenders = [str(path.relative_to(TOP)) for folder in ("tests", "bench", "parlor", "handlers", "views")
                 for path in (TOP / folder).rglob("*.py")
                 if TOP_LEVEL_NAMES.search(path.read_text())]
    offenders += [name for name in ("server.py", "services.py") if TOP_LEVEL_NAMES.search((TOP / name).read_text())]
    assert offenders == []

"""Output shared by the commands: JSON that is safe to print to a terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

from helpdesk.core.sanitize import json_safe


def print_json(data: Any) -> None:
    """Mail text inside stays readable (UTF-8, not \\u escapes for every accent), but escape
    sequences, C1 controls and bidi overrides are escaped, never sent to the terminal."""
    sys.stdout.write(json_safe(json.dumps(data, ensure_ascii=False, indent=2)) + "\n")

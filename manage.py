#!/usr/bin/env python
"""Django's command-line utility; validates the environment first."""

import os
import sys


def main() -> None:
    from aventide.core.env import validate_env

    validate_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aventide.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

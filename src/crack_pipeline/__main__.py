"""crack_pipeline file for ensuring the package is executable
as `crack-pipeline` and `python -m crack_pipeline`
"""

import sys
from pathlib import Path
from typing import Any

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project
from kedro.utils import find_kedro_project


def main(*args, **kwargs) -> Any:
    package_name = Path(__file__).parent.name
    if find_kedro_project(Path.cwd()) is None:  # else Kedro reads settings from here and fails far away
        sys.exit(
            f"Error: {Path.cwd()} is in no Kedro project: run crack-pipeline from the project's folder "
            "(or any folder inside it)"
        )
    configure_project(package_name)

    interactive = hasattr(sys, "ps1")
    kwargs["standalone_mode"] = not interactive

    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()

"""The project the web UI shows: loaded once, loaded again when its files change (see
:class:`datamake.project.holder.ProjectHolder`), planned once at start so the first page is quick."""
from __future__ import annotations

from typing import Optional

from datamake import api
from datamake.core.errors import DatamakeError
from datamake.project.holder import ProjectHolder as _Holder


class ProjectHolder(_Holder):
    """``with holder.use() as project:`` the current project, one request at a time; it keeps the
    manifests it parsed and its last planning pass, since the pages read them again and again."""

    def warm(self) -> Optional[DatamakeError]:
        """Load the project and plan it once (so the first page is quick); the load error, or None."""
        try:
            with self.use() as project:
                api.ls(project)
                api.status(project)
                return None
        except DatamakeError as exc:
            return exc

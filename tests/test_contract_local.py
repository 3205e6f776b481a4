import pytest

from trackbridge.local.store import LocalBackend
from trackbridge.testing import BackendContract


class TestLocalBackend(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path):
        backend = LocalBackend(tmp_path / "store")
        yield backend
        backend.close()

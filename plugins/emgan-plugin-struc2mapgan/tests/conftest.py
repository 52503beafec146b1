from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return ROOT / "examples" / "data"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip("larger example data (../shared/data) not present")
    return path

"""The fake NVML must mirror the real nvidia-ml-py, and the sampler must call only real names."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pynvml
import pytest

from tests.fakes import fake_nvml

SAMPLER = Path(__file__).resolve().parents[2] / "autoglm_tui" / "sampler"


def _public(module: object) -> list[str]:
    return [n for n in vars(module) if n.startswith(("nvml", "NVML"))]


@pytest.mark.parametrize("name", _public(fake_nvml))
def test_every_fake_name_exists_in_the_real_binding(name: str) -> None:
    assert hasattr(pynvml, name), f"{name} is not in nvidia-ml-py"
    fake, real = getattr(fake_nvml, name), getattr(pynvml, name)
    if isinstance(fake, int):
        assert fake == real, name
    elif inspect.isfunction(fake):
        fake_params = list(inspect.signature(fake).parameters)
        real_params = list(inspect.signature(real).parameters)
        assert fake_params == real_params, name


def test_error_classes_map_codes_like_the_real_binding() -> None:
    for code in (3, 6, 10, 12, 15):
        fake_err, real_err = fake_nvml.NVMLError(code), pynvml.NVMLError(code)
        assert type(fake_err).__name__ == type(real_err).__name__
        assert fake_err.value == real_err.value == code
        assert str(fake_err) == str(real_err)
    assert isinstance(fake_nvml.NVMLError_GpuIsLost(), fake_nvml.NVMLError)
    assert fake_nvml.NVMLError_NotSupported().value == pynvml.NVMLError_NotSupported().value


def test_the_sampler_calls_only_functions_the_real_binding_has() -> None:
    called: set[str] = set()
    for path in SAMPLER.glob("*.py"):
        called |= set(re.findall(r"\"(nvml[A-Z]\w+)\"", path.read_text(encoding="utf-8")))
    assert "nvmlDeviceGetUtilizationRates" in called
    missing = sorted(n for n in called if not hasattr(pynvml, n))
    assert missing == []
    not_faked = sorted(n for n in called if not hasattr(fake_nvml, n))
    assert not_faked == []

"""Under CI=true a skip fails the run unless it is allow-listed (the guard in tests/conftest.py).

Each test runs a tiny suite in its own pytest session (``pytester``) with the guard installed the
way tests/conftest.py installs it, and checks the outcome counts and the exit status.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from tests.conftest import CI_ALLOWED_SKIPS, install_ci_skip_guard

pytest_plugins = ["pytester"]

SUITE = """
import pytest

def test_that_passes():
    pass

def test_without_its_tool():
    pytest.skip("optional tool missing")

@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    assert False
"""

MODULE_SKIPPED_WHILE_COLLECTING = """
import pytest

pytest.importorskip("no_such_module_for_the_skip_guard")

def test_never_collected():
    pass
"""


class _Installer:
    """Installs the guard in the inner session exactly as tests/conftest.py's pytest_configure does."""

    def __init__(self, allowed: Iterable[tuple[str, str]]) -> None:
        self.allowed = tuple(allowed)

    def pytest_configure(self, config: pytest.Config) -> None:
        install_ci_skip_guard(config, self.allowed)


def run(pytester: pytest.Pytester, allowed: Iterable[tuple[str, str]] = ()) -> pytest.RunResult:
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs", plugins=[_Installer(allowed)])


@pytest.fixture(autouse=True)
def _no_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    # The tiny suites need no plugin; loading every installed one (hypothesis, anyio, …) into each
    # inner session would cost seconds per run.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture
def on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")


@pytest.mark.usefixtures("on_ci")
def test_under_ci_a_skip_that_is_not_allow_listed_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tiny=SUITE)
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*skipped under CI=true, and not on CI_ALLOWED_SKIPS in tests/conftest.py: optional tool missing*"]
    )


@pytest.mark.usefixtures("on_ci")
def test_under_ci_an_allow_listed_skip_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tiny=SUITE)
    result = run(pytester, allowed=[("test_tiny.py::test_without_its_tool", "optional tool")])
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.usefixtures("on_ci")
def test_the_allow_list_needs_both_the_node_id_and_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tiny=SUITE)
    wrong_reason = run(pytester, allowed=[("*::test_without_its_tool", "a different reason")])
    wrong_reason.assert_outcomes(passed=1, failed=1, xfailed=1)
    wrong_test = run(pytester, allowed=[("*::test_that_passes", "")])
    wrong_test.assert_outcomes(passed=1, failed=1, xfailed=1)
    any_reason = run(pytester, allowed=[("*::test_without_*", "")])
    any_reason.assert_outcomes(passed=1, skipped=1, xfailed=1)


@pytest.mark.usefixtures("on_ci")
def test_under_ci_a_module_skipped_while_collecting_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tiny=SUITE, test_optional=MODULE_SKIPPED_WHILE_COLLECTING)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*skipped while collecting, under CI=true (not allow-listed)*",
            "test_optional.py: could not import 'no_such_module_for_the_skip_guard'*",
        ]
    )
    allowed = run(pytester, allowed=[("test_optional.py", "no_such_module_for_the_skip_guard")])
    assert allowed.ret == pytest.ExitCode.TESTS_FAILED  # test_tiny's skip is still not allowed
    allowed = run(
        pytester,
        allowed=[("test_optional.py", "no_such_module_for_the_skip_guard"), ("*", "optional tool")],
    )
    assert allowed.ret == pytest.ExitCode.OK


def test_off_ci_a_skip_stays_a_skip(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(test_tiny=SUITE)
    result = run(pytester)
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_every_allow_list_entry_is_a_node_id_glob_and_a_reason_fragment() -> None:
    for entry in CI_ALLOWED_SKIPS:
        glob, fragment = entry
        assert isinstance(glob, str) and glob and isinstance(fragment, str)

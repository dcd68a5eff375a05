"""Install scripts that produce nothing on Linux or only print (audit/no_work.py): a test per
entry, with the script text the entry records, a changed script, and an unread one."""

from __future__ import annotations

import pytest

from pipelines.audit.detect import Facts, classify
from pipelines.audit.model import Mechanism
from pipelines.audit.no_work import KNOWN
from pipelines.packagers.lockfiles.entry import LockEntry

# The text each entry was read from, as `npm view NAME@VERSION scripts` printed it.
RECORDED = {
    "dtrace-provider": "node-gyp rebuild || node suppress-error.js",  # 0.8.8
    "core-js": "node -e \"try{require('./postinstall')}catch(e){}\"",  # 3.51.0
    "core-js-pure": "node -e \"try{require('./postinstall')}catch(e){}\"",  # 3.51.0
    "es5-ext": " node -e \"try{require('./_postinstall')}catch(e){}\" || exit 0",  # 0.10.64
    "protobufjs": "node scripts/postinstall",  # 7.6.6
    "@nestjs/core": "opencollective || exit 0",  # 10.4.9
    "@scarf/scarf": "node ./report.js",  # 1.4.0
    "ejs": "node ./postinstall.js",  # 3.0.1
    "highlight.js": "node deprecated.js",  # 9.18.5
}


def entry(name: str, *, deps: dict[str, str] | None = None, known: bool = True) -> LockEntry:
    """A production lockfile entry with an install script (`known`: the lockfile says so)."""
    return LockEntry(path=f"node_modules/{name}", name=name, version="1.0.0", dev=False,
                     optional=False, has_install_script=known, os=(), cpu=(), libc=(),
                     dependencies=deps or {}, optional_dependencies={}, resolved=None,
                     local=False, scripts_known=known)


def test_every_entry_has_a_recorded_script_here() -> None:
    """The table and this test name the same packages: no entry goes untested."""
    assert set(KNOWN) == set(RECORDED)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_the_recorded_script_is_no_work(name: str) -> None:
    """With its recorded text the script is `no-work-script`: not native, never run."""
    deps = {"nan": "^2.14.0"} if name == "dtrace-provider" else {}
    mechanism, evidence = classify(entry(name, deps=deps),
                                   Facts(install_scripts=RECORDED[name], scripts_from="registry"))
    assert mechanism is Mechanism.NO_WORK and not mechanism.native
    assert evidence[0].startswith("known: this install script ")


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_another_script_of_the_same_name_is_not_trusted(name: str) -> None:
    """A different script text is a different script: it runs as any other would."""
    mechanism, _ = classify(entry(name), Facts(install_scripts="node build.js",
                                               scripts_from="registry"))
    assert mechanism is Mechanism.INSTALL_SCRIPT


@pytest.mark.parametrize(("script", "prints_only"), [
    ("echo 'preinstall: no-op'", True),  # @google/genai 2.13.0's preinstall
    ('echo "thanks for installing"', True),
    ("echo done", True),
    ("echo x > marker.txt", False),
    ("echo x && node build.js", False),
    ("echo $(node build.js)", False),
    ("echo `node build.js`", False),
    ("echo x; node build.js", False),
])
def test_a_script_that_is_one_echo_only_prints(script: str, prints_only: bool) -> None:
    """One echo of quoted strings or words is no work, for any package; anything more is not."""
    mechanism, evidence = classify(entry("any-package"), Facts(install_scripts=script,
                                                               scripts_from="registry"))
    assert (mechanism is Mechanism.NO_WORK) is prints_only
    if prints_only:
        assert evidence == ["this install script only prints (one echo); not run on the target"]


def test_unread_script_text_lets_the_name_decide() -> None:
    """pnpm 9+/yarn berry offline: no text, so the name decides, and the evidence says so."""
    mechanism, evidence = classify(entry("dtrace-provider", deps={"nan": "^2.14.0"},
                                         known=False), Facts())
    assert mechanism is Mechanism.NO_WORK
    assert "its text was not read, the name decides" in evidence[0]


def test_dtrace_provider_forces_no_toolchain() -> None:
    """Without the table its node-gyp script would be a compile needing a toolchain."""
    script = RECORDED["dtrace-provider"]
    mechanism, _ = classify(entry("dtrace-provider-fork", deps={"nan": "^2.14.0"}),
                            Facts(install_scripts=script, scripts_from="registry"))
    assert mechanism is Mechanism.COMPILE  # the same text under another name compiles
    mechanism, _ = classify(entry("dtrace-provider", deps={"nan": "^2.14.0"}),
                            Facts(install_scripts=script, scripts_from="registry"))
    assert mechanism is Mechanism.NO_WORK


def test_ssh2_install_js_is_a_compile_of_an_optional_binding() -> None:
    """ssh2's `node install.js` runs node-gyp for its optional crypto binding: a compile (on
    the engine), never an opaque script run on the target; another text is not trusted."""
    mechanism, evidence = classify(entry("ssh2"), Facts(install_scripts="node install.js",
                                                        scripts_from="registry"))
    assert mechanism is Mechanism.COMPILE
    assert "node-gyp rebuild for an optional crypto binding" in evidence[0]
    mechanism, _ = classify(entry("ssh2"), Facts(install_scripts="node other.js",
                                                 scripts_from="registry"))
    assert mechanism is Mechanism.INSTALL_SCRIPT

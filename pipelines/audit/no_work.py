"""Install scripts known to produce nothing on Linux, or only to print: they are not run on the
target and force no toolchain, so `--emulation fail` does not refuse a build for them.

The one place this knowledge lives. Each entry holds the script texts it was read from (the
registry's version document, `npm view NAME@VERSION scripts`) and why that text does nothing on
a Linux image, from the tarball (`npm pack NAME@VERSION`). A script whose text is known and is
not among those recorded is a different script: it runs as any other. When the text is not
known (a pnpm 9+ or yarn berry lockfile, offline with no cache), the name decides and the
evidence says so. tests/unit/audit/test_no_work.py has a test per entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A script that is one `echo` of quoted strings or plain words, with no redirection, pipe,
# substitution or second command: it only prints, whatever the package (seen: @google/genai
# 2.13.0, "preinstall": "echo 'preinstall: no-op'").
_ECHO_ONLY = re.compile(r"""\s*echo(\s+("[^"$`\\]*"|'[^']*'|[^\s;&|<>`$()'"\\]+))*\s*""")


@dataclass(frozen=True, slots=True)
class NoWork:
    """A package whose install script does nothing useful on Linux: its recorded scripts (as
    `install_scripts` joins them) and what the script does."""

    scripts: tuple[str, ...]
    does: str


KNOWN: dict[str, NoWork] = {
    # dtrace-provider 0.8.8: "install": "node-gyp rebuild || node suppress-error.js".
    # binding.gyp builds `ndtp` only under ['OS=="mac" or OS=="solaris" or OS=="freebsd"'];
    # elsewhere its one target is `DTraceProviderStub` with 'type': 'none' ("We end up building
    # nothing, and fall back to the stub implementation when the package is loaded"), and
    # dtrace-provider.js falls back to DTraceProviderStub when no binding loads.
    "dtrace-provider": NoWork(
        ("node-gyp rebuild || node suppress-error.js",),
        "builds nothing on Linux (binding.gyp's Linux target is type none; the stub loads)"),
    # core-js 3.9-3.51 and core-js-pure: "postinstall":
    # `node -e "try{require('./postinstall')}catch(e){}"`; postinstall.js only decides whether
    # to print a funding banner (`if (isBannerRequired()) showBanner();`, console.log), noting
    # it in os.tmpdir()/core-js-banners.
    "core-js": NoWork(("node -e \"try{require('./postinstall')}catch(e){}\"",),
                      "only prints a funding banner"),
    "core-js-pure": NoWork(("node -e \"try{require('./postinstall')}catch(e){}\"",),
                           "only prints a funding banner"),
    # es5-ext 0.10.64: "postinstall": ` node -e "try{require('./_postinstall')}catch(e){}" ||
    # exit 0`; _postinstall.js: "Broadcasts "Call for peace" message when package is installed
    # in Russia, otherwise no-op" (process._rawDebug of a message, by time zone).
    "es5-ext": NoWork((" node -e \"try{require('./_postinstall')}catch(e){}\" || exit 0",),
                      "only prints a message (in some time zones)"),
    # protobufjs 6.11 and 7.x: "postinstall": "node scripts/postinstall"; the script reads its
    # own and its dependent's package.json and writes a WARN line to stderr when the dependent
    # names an incompatible version scheme; it writes no file.
    "protobufjs": NoWork(("node scripts/postinstall",),
                         "only warns about its dependent's version range"),
    # @nestjs/core 10.4: "postinstall": "opencollective || exit 0": the @nuxtjs/opencollective
    # banner (it prints, and `|| exit 0` hides any failure).
    "@nestjs/core": NoWork(("opencollective || exit 0",), "only prints a funding banner"),
    # @scarf/scarf 1.4.0 (dokploy ships it): "postinstall": "node ./report.js"; report.js sends
    # install analytics over HTTPS, best effort (`.finally(() => { process.exit(0) })`), and
    # writes only a rate-limit file in the temp directory (and package.json's scarfSettings
    # after an interactive opt-in prompt, which a build never answers).
    "@scarf/scarf": NoWork(("node ./report.js",),
                           "only reports install analytics over the network"),
    # ejs 3.0.1 (redis-commander ships it): "postinstall": "node ./postinstall.js";
    # postinstall.js prints one "Thank you for installing EJS" line unless CI or a quiet
    # loglevel is set (console.log only).
    "ejs": NoWork(("node ./postinstall.js",), "only prints a thank-you line"),
    # highlight.js 9.18.5: "postinstall": "node deprecated.js"; deprecated.js prints the
    # version 9 end-of-life notice unless HLJS_HIDE_UPGRADE_WARNING is set (console.log only).
    "highlight.js": NoWork(("node deprecated.js",), "only prints an end-of-life notice"),
}


def no_work(name: str, script: str | None) -> str | None:
    """The evidence line when `name`'s install script (`script`, None when unknown) is known
    to produce nothing on Linux; None when it may do real work."""
    if script is not None and _ECHO_ONLY.fullmatch(script):
        return "this install script only prints (one echo); not run on the target"
    known = KNOWN.get(name)
    if known is None:
        return None
    if script is None:
        return (f"known: {name}'s install script {known.does}; not run (its text was not "
                "read, the name decides)")
    if script.strip() not in (s.strip() for s in known.scripts):
        return None
    return f"known: this install script {known.does}; not run on the target"

"""The Yocto checks that need Python, run by `cargo xtask yocto-check` in its own venv.

  yocto_check.py kas NAME=COMMIT,... FILE...   every kas file valid against kas's own schema,
                                                every upstream repo in it pinned to COMMIT
  yocto_check.py parse LAYER FILE...           BitBake's own parser (the `bb` library) on recipes

Exits 1, naming the file and the fault, on the first one found.
"""

import os
import sys
import tempfile
import types


def fail(message):
    print(f"yocto_check: {message}", file=sys.stderr)
    sys.exit(1)


def check_kas(pins, files):
    import jsonschema
    import yaml
    from kas.configschema import CONFIGSCHEMA

    pinned = dict(pin.split("=", 1) for pin in pins.split(","))
    seen = set()
    for path in files:
        with open(path) as f:
            config = yaml.safe_load(f)
        try:
            jsonschema.validate(config, CONFIGSCHEMA)
        except jsonschema.ValidationError as e:
            fail(f"{path}: not a valid kas file: {e.message}")
        for name, repo in (config.get("repos") or {}).items():
            if not repo or "url" not in repo:
                continue  # camloop's own checkout
            if name not in pinned:
                fail(f"{path}: repo {name} is not one of the pinned layers {sorted(pinned)}")
            if repo.get("commit") != pinned[name]:
                fail(f"{path}: repo {name} is at {repo.get('commit')}, not the pinned {pinned[name]}")
            seen.add(name)
        print(f"yocto_check: {path}: valid")
    if missing := sorted(set(pinned) - seen):
        fail(f"no kas file brings in {missing}")
    print(f"yocto_check: every repo pinned: {sorted(seen)}")


def check_parse(layer, files):
    # BitBake's hash equivalence client is never used by a parse; PyPI's bb lacks it.
    for name in ("hashserv", "hashserv.client"):
        sys.modules.setdefault(name, types.ModuleType(name))
    import logging

    # The parser logs what it rejects, then raises an exception that says nothing.
    logging.basicConfig(format="%(message)s")
    import bb.data
    import bb.parse
    import bb.siggen

    # The classes are oe-core's: empty stand-ins let the parser check our own statements.
    stubs = tempfile.mkdtemp()
    os.makedirs(f"{stubs}/classes-recipe")
    classes = ["base", "cargo", "cargo-update-recipe-crates", "core-image", "externalsrc",
               "pkgconfig", "systemd", "useradd"]
    for name in classes:
        open(f"{stubs}/classes-recipe/{name}.bbclass", "w").close()
    d = bb.data.init()
    d.setVar("BBPATH", f"{stubs}:{layer}")
    d.setVar("TOPDIR", stubs)
    d.setVar("__bbclasstype", "recipe")
    # What oe-core's bitbake.conf gives every recipe and ours use.
    d.setVar("PN", "${@bb.parse.vars_from_file(d.getVar('FILE', False), d)[0]}")
    d.setVar("PV", "${@bb.parse.vars_from_file(d.getVar('FILE', False), d)[1] or '1.0'}")
    d.setVar("BPN", "${PN}")
    d.setVar("THISDIR", "${@os.path.dirname(d.getVar('FILE'))}")
    d.setVar("COMMON_LICENSE_DIR", "/common-licenses")
    bb.parse.siggen = bb.siggen.init(d)
    for path in files:
        try:
            recipe = bb.parse.handle(path, d.createCopy())[""]
        except Exception as e:  # the parser's errors have no common base
            fail(f"{path}: BitBake cannot parse it: {type(e).__name__} {e}")
        crates = sum(u.startswith("crate://") for u in (recipe.getVar("SRC_URI") or "").split())
        print(f"yocto_check: {path}: parsed, {crates} crates, DEPENDS = {recipe.getVar('DEPENDS')!r}")


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["kas", pins, *files] if files:
            check_kas(pins, files)
        case ["parse", layer, *files] if files:
            check_parse(layer, files)
        case _:
            fail(__doc__)

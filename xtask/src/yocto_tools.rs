//! What the Yocto checks share: the upstream revisions the layer is pinned to and the Python
//! tools they run (`yocto_check` and the BitBake parse in `bitbake`).

use crate::system::{cache_dir, run};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// The upstream revisions the layer was checked against with the real BitBake (wrynose).
pub const PINS: [(&str, &str); 6] = [
    ("bitbake", "fae9db3168dbff1b8c76fe9c6726a9687ff97514"),
    (
        "openembedded-core",
        "ef022bf82d79015802309d14c28b13373ebe53f5",
    ),
    ("meta-yocto", "904846ae078ee20de073040ebb77c86e19250f56"),
    (
        "meta-openembedded",
        "6bf0d8ad57b33950bab4c7f6c037e1ccb6f6e2eb",
    ),
    (
        "meta-raspberrypi",
        "f62c67921474370829d24a4fa01ef88543f3906b",
    ),
    ("meta-clang", "78c5e12f08198f4f257a9348516d2103cd617c1d"),
];

/// The Python tools, at the versions these checks were written against.
const PYTHON_PACKAGES: [&str; 4] = [
    "kas==5.5",
    "jsonschema==4.26.0",
    "oelint-adv==9.11.2",
    "bitbake-setup==2.19.0",
];

/// A venv in the user's cache with `PYTHON_PACKAGES`, made once per set of versions.
pub fn venv() -> Result<PathBuf> {
    let wanted = PYTHON_PACKAGES.join(" ");
    let dir = cache_dir("yocto-venv")?;
    let python = dir.join("bin/python");
    let stamp = dir.join("camloop-packages");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    run(
        "python3",
        &["-m", "venv", "--clear", dir.to_str().context("path")?],
    )?;
    let mut pip = vec!["-m", "pip", "install", "-q", "--disable-pip-version-check"];
    pip.extend(PYTHON_PACKAGES);
    run(python.to_str().context("path")?, &pip)?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

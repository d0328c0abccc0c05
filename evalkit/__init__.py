"""evalkit: does the fine-tuned model beat the base model with its best prompt?"""

# the one place the version is written: pyproject.toml reads it from here, and a run reads it
# without importlib.metadata's scan of the installed packages (~0.08 s of every start)
__version__ = "0.1.0"

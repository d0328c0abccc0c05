"""The audit of a fine-tuning file before any verdict is trusted: likely label errors,
duplicates and conflicts, leaks into the evaluation sets, sensitive data, and agreement
between annotators. One module per check; `evalkit.audit.core` runs them all."""

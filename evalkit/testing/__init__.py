"""Tools for testing evalkit and suites without a network: a loopback OpenAI-compatible endpoint."""

"""`evalkit init`: a labelled data file → the files of a working suite (pure functions; the CLI writes)."""

"""The model itself, pure data and numpy: the port of nanoGPT (model), its trace, vocabulary, weights files and the sort task."""

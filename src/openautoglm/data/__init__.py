"""Data that ships with Open-AutoGLM: the sample sales database generator."""

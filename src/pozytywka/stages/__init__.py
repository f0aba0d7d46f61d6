"""Thin DVC stage entry points: parse params, read inputs, call pure functions, write outputs."""

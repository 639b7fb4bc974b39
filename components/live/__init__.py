"""Components of the Live page: the folder watcher's state, its latest verdicts and NG rates."""

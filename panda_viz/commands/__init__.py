"""The ``panda-viz`` command: one module a sub-command, the argument types they share, the dispatcher."""

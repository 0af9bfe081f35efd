"""duban (督办): the CLI shell, settings and wiring of the supervision desk."""

__version__ = "0.1.0"

"""astro-gym: the `astro` command line and the end-to-end ASTRO pipeline (`astro run`)."""

__version__ = "0.1.0"

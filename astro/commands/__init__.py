"""One module per `astro` subcommand that is not a whole pipeline: each parses its command line
from the component configs and calls the packages' public functions (`main(argv) -> int`)."""

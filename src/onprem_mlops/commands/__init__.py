"""Sub-commands of the ``onprem-mlops`` CLI (one module each, see ``onprem_mlops.cli``)."""

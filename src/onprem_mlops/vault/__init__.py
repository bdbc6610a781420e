"""The site's ansible-vault: its specification (``spec``) and encrypted file (``store``)."""

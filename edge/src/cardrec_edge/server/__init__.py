"""``cardrec-edge serve``: the HTTP app (``app``), upload checks (``upload``), the pages (``page``, ``static/``)."""

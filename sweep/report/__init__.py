"""What a person reads: the HTML report and its figures, exported predictions, and the tables the CLI prints.

Above ``sweep.analysis``, whose rows it draws and prints.

* ``page``: ``write_report``, a self-contained HTML page (Jinja2, ``templates/``) with PNG and SVG figures;
* ``figures``: the figures (matplotlib, Agg); ``output``: tables as text, CSV, JSON, Markdown or Parquet;
* ``export``: every pair's test predictions in the layout the benchmarks' ``evaluate.py`` reads;
* ``watch``: ``sweep status --watch``, a sweep's progress redrawn until it ends.
"""
